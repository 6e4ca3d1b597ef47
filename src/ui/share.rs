//! Share for the room: the link that replays this page's settings, as text to copy and as a
//! QR code big enough to scan off a projector.

use leptos::prelude::*;

use super::SimulatorHandle;
use crate::{qr, transport};

#[component]
pub fn Share(sim: SimulatorHandle) -> impl IntoView {
    let link = Memo::new(move |_| sim.share_link());
    let code = move || {
        link.with(|link| match qr::encode(link) {
            Some(code) => qr::svg(&code, "QR code of the share link"),
            None => "<p>The link is too long for a QR code.</p>".into(),
        })
    };
    let box_ref = NodeRef::<leptos::html::Div>::new();
    view! {
        <section class="share-room" aria-labelledby="share-heading">
            <h2 id="share-heading">"Share for the room"</h2>
            <div class="field">
                <label for="share-text">"Share link"</label>
                <input id="share-text" data-testid="share-text" type="text" readonly prop:value=move || link.get() />
            </div>
            <p>
                <button class="small" data-testid="copy-link" on:click=move |_| transport::copy_text(&link.get_untracked())>
                    "Copy link"
                </button>
                " "
                <button
                    class="small"
                    data-testid="qr-fullscreen"
                    on:click=move |_| {
                        if let Some(qr) = box_ref.get() {
                            let _ = qr.request_fullscreen();
                        }
                    }
                >
                    "Show the QR code full screen"
                </button>
            </p>
            <div class="qr" data-testid="qr" node_ref=box_ref prop:innerHTML=code></div>
        </section>
    }
}
