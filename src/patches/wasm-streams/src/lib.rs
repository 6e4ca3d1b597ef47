//! The part of wasm-streams 0.5's API that server_fn's browser client names, without the
//! JavaScript classes the real crate exports. This page calls no server function, so none of it
//! runs; if something ever did, it panics saying why rather than misbehaving.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use wasm_bindgen::JsValue;

const WHY: &str = "dps368-sim calls no server functions: wasm-streams is stubbed out (src/patches/wasm-streams)";

/// A web `ReadableStream`, as the real crate wraps it.
pub struct ReadableStream(web_sys::ReadableStream);

impl ReadableStream {
    pub fn from_raw(raw: web_sys::ReadableStream) -> Self {
        Self(raw)
    }

    pub fn from_stream<St>(_stream: St) -> Self
    where
        St: Stream<Item = Result<JsValue, JsValue>> + 'static,
    {
        panic!("{WHY}")
    }

    pub fn into_raw(self) -> web_sys::ReadableStream {
        self.0
    }

    pub fn into_stream(self) -> IntoStream {
        panic!("{WHY}")
    }
}

/// What [`ReadableStream::into_stream`] would return.
pub struct IntoStream;

impl Stream for IntoStream {
    type Item = Result<JsValue, JsValue>;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        panic!("{WHY}")
    }
}
