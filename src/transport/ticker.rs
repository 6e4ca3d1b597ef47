//! A one-shot timer that keeps time in a background tab.
//!
//! Browsers throttle main-thread timers in hidden tabs (Chrome: to once a minute after five
//! minutes hidden), which would starve keep-alive and bunch up samples. A dedicated Web Worker's
//! timers are not throttled that way, and its messages wake the page, so the timer runs in a
//! tiny worker made from a Blob. Where a worker cannot be made (a strict Content Security
//! Policy), it falls back to `setTimeout` on the page.

use gloo_timers::callback::Timeout;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{MessageEvent, Url, Worker};

/// The worker: each message is a delay in ms; it answers once that delay has passed. A newer
/// message replaces the pending one.
const WORKER_JS: &str =
    "let t=null;onmessage=e=>{clearTimeout(t);t=setTimeout(()=>postMessage(0),e.data)};";

pub struct Ticker {
    kind: Kind,
}

enum Kind {
    Worker {
        worker: Worker,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
    },
    Page {
        on_tick: std::rc::Rc<dyn Fn()>,
        timeout: Option<Timeout>,
    },
}

impl Ticker {
    /// A ticker that calls `on_tick` each time an armed delay has passed.
    pub fn new(on_tick: impl Fn() + 'static) -> Self {
        let on_tick = std::rc::Rc::new(on_tick);
        match make_worker() {
            Some(worker) => {
                let tick = on_tick.clone();
                let on_message =
                    Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| tick());
                worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                Self {
                    kind: Kind::Worker {
                        worker,
                        _on_message: on_message,
                    },
                }
            }
            None => Self {
                kind: Kind::Page {
                    on_tick,
                    timeout: None,
                },
            },
        }
    }

    /// Calls `on_tick` once after `delay_ms`, replacing any pending call.
    pub fn arm(&mut self, delay_ms: u32) {
        match &mut self.kind {
            Kind::Worker { worker, .. } => {
                let _ = worker.post_message(&delay_ms.into());
            }
            Kind::Page { on_tick, timeout } => {
                let tick = on_tick.clone();
                *timeout = Some(Timeout::new(delay_ms, move || tick()));
            }
        }
    }

    /// Whether the timer runs in a worker (and so keeps time in a background tab).
    pub fn in_worker(&self) -> bool {
        matches!(self.kind, Kind::Worker { .. })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Kind::Worker { worker, .. } = &self.kind {
            worker.set_onmessage(None);
            worker.terminate();
        }
    }
}

fn make_worker() -> Option<Worker> {
    let url = super::browser::object_url(WORKER_JS, "text/javascript")?;
    let worker = Worker::new(&url).ok();
    let _ = Url::revoke_object_url(&url);
    worker
}
