//! Share for the room: the room link (each visitor a device of their own), as text to copy, as
//! a link and as a QR code big enough to scan off a projector, with a warning in words when
//! phones could not reach it; and the replay link that reproduces this run.

use leptos::prelude::*;

use super::{SimulatorHandle, set_by_id};
use crate::qr;
use crate::settings::{Field, room_warning};

/// Keeps both links, their text, the room's QR code and its warning in step with the settings.
pub fn bind(sim: SimulatorHandle, root: NodeRef<leptos::html::Div>) {
    Effect::new(move |_| {
        if root.get().is_none() {
            return;
        }
        let room = sim.room_link();
        let code = match qr::encode(&room) {
            Some(code) => qr::svg(&code, "QR code of the room link"),
            None => "<p>The link is too long for a QR code.</p>".into(),
        };
        set_by_id(root, "qr", "innerHTML", code.into());
        set_by_id(root, "room-link", "href", room.clone().into());
        set_by_id(root, "room-text", "value", room.into());
        let password_asked = sim.value(Field::Username).with(|u| !u.trim().is_empty());
        let warning = sim.value(Field::BrokerUrl).with(|broker| {
            room_warning(
                &crate::transport::browser::page_host(),
                broker,
                password_asked,
            )
        });
        #[cfg(feature = "scenario")]
        let warning = warning.or_else(|| sim.scenario_link_warning());
        set_by_id(root, "share-warning", "hidden", warning.is_none().into());
        set_by_id(
            root,
            "share-warning",
            "textContent",
            warning.unwrap_or_default().into(),
        );
        let link = sim.share_link();
        set_by_id(root, "share-link", "href", link.clone().into());
        set_by_id(root, "share-text", "value", link.into());
    });
}
