//! A WebSocket that speaks MQTT: subprotocol `mqtt` [MQTT-6.0.0-3], binary frames as ArrayBuffer
//! [MQTT-6.0.0-1]. It owns its event closures and removes them, and closes, when dropped.

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, MessageEvent, WebSocket};

/// What the socket reports.
pub enum SocketEvent {
    Open,
    Binary(Vec<u8>),
    /// A text frame, which MQTT never uses.
    Text,
    /// Closed or failed; reported once.
    Closed,
}

pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

impl Socket {
    pub fn open(url: &str, handler: impl Fn(SocketEvent) + 'static) -> Result<Self, String> {
        let ws = WebSocket::new_with_str(url, "mqtt").map_err(|e| {
            e.as_string().unwrap_or_else(|| {
                format!("cannot open {}: {e:?}", crate::settings::shown_url(url))
            })
        })?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let handler = std::rc::Rc::new(handler);

        let h = handler.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || h(SocketEvent::Open));
        let h = handler.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            match data.dyn_into::<ArrayBuffer>() {
                Ok(buffer) => h(SocketEvent::Binary(Uint8Array::new(&buffer).to_vec())),
                Err(_) => h(SocketEvent::Text),
            }
        });
        // An error is always followed by close; either one ends the connection, and the device
        // ignores the second.
        let h = handler;
        let on_close = Closure::<dyn FnMut()>::new(move || h(SocketEvent::Closed));

        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), String> {
        self.ws
            .send_with_u8_array(bytes)
            .map_err(|e| format!("send failed: {e:?}"))
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}
