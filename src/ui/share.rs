//! Share for the room: the link that replays this page's settings, as text to copy, as a
//! link, and as a QR code big enough to scan off a projector.

use leptos::prelude::*;

use super::{SimulatorHandle, set_by_id};
use crate::qr;

/// Keeps the share link, its text and its QR code in step with the settings.
pub fn bind(sim: SimulatorHandle, root: NodeRef<leptos::html::Div>) {
    Effect::new(move |_| {
        if root.get().is_none() {
            return;
        }
        let link = sim.share_link();
        let code = match qr::encode(&link) {
            Some(code) => qr::svg(&code, "QR code of the share link"),
            None => "<p>The link is too long for a QR code.</p>".into(),
        };
        set_by_id(root, "qr", "innerHTML", code.into());
        set_by_id(root, "share-link", "href", link.clone().into());
        set_by_id(root, "share-text", "value", link.into());
    });
}
