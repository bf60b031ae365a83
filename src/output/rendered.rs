//! One rendering of a merged feed → its body in each content coding we serve: the document
//! as rendered, and gzip and brotli copies made once, on first demand, at the effort its kind
//! of output deserves.

use std::io::Write;
use std::sync::OnceLock;

use axum::body::Bytes;
use chrono::{DateTime, Utc};

/// A content coding a body is kept and served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// The document as rendered.
    Identity,
    /// gzip.
    Gzip,
    /// brotli.
    Br,
}

/// Brotli quality for the configured outputs: close to the best ratio at a fraction of
/// quality 11's time, and paid once per change of the data.
const BROTLI_QUALITY: i32 = 9;

/// Brotli quality for query variants: a 3.4 MB feed in 27 ms instead of quality 9's 165 ms
/// (to 26 % of its size instead of 11 %), since a stranger chooses how many variants there
/// are.
const VARIANT_BROTLI_QUALITY: i32 = 2;

/// gzip level for query variants: a 3.4 MB feed in 26 ms instead of level 6's 157 ms (to 39 %
/// of its size instead of 33 %).
const VARIANT_GZIP_LEVEL: u32 = 2;

/// Bytes counted per kept rendering on top of its bodies: the key, the struct and its hash,
/// the map's slot.
const ENTRY_OVERHEAD: usize = 256;

/// How hard a rendering is compressed, and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// A configured output or the front page: compressed well, once per change of the data.
    Best,
    /// What a request chose (a query variant, a later page of the news page): compressed
    /// fast, by the variants' worker.
    Fast,
}

/// One rendering of the merged feed, in each encoding we serve.
#[derive(Debug)]
pub struct Rendered {
    /// The store version it was rendered from.
    pub version: u64,
    /// How hard it is compressed.
    pub effort: Effort,
    /// The XML.
    pub identity: Bytes,
    /// The XML, gzip-compressed, made on the first request that accepts gzip.
    gzip: OnceLock<Bytes>,
    /// The XML, brotli-compressed, made on the first request that accepts brotli.
    br: OnceLock<Bytes>,
    /// Hash of the XML, the base of the ETags.
    pub hash: String,
    /// The newest change among the items, to the second.
    pub last_modified: DateTime<Utc>,
}

impl Rendered {
    /// A rendering of `xml` (the document, whatever its format), made from store `version`.
    pub(super) fn new(
        version: u64,
        effort: Effort,
        xml: Vec<u8>,
        hash: String,
        last_modified: DateTime<Utc>,
    ) -> Rendered {
        Rendered {
            version,
            effort,
            hash,
            identity: Bytes::from(xml),
            gzip: OnceLock::new(),
            br: OnceLock::new(),
            // HTTP dates have whole seconds; comparing If-Modified-Since needs the same.
            last_modified: DateTime::from_timestamp(last_modified.timestamp(), 0)
                .unwrap_or(last_modified),
        }
    }

    /// The body in `coding` if it is ready (always for identity).
    pub(super) fn ready_body(&self, coding: Coding) -> Option<Bytes> {
        match coding {
            Coding::Identity => Some(self.identity.clone()),
            Coding::Gzip => self.gzip.get().cloned(),
            Coding::Br => self.br.get().cloned(),
        }
    }

    /// The body in `coding`, compressed once and kept (call it off the async threads: brotli
    /// takes tens of milliseconds on a large feed).
    pub(super) fn body(&self, coding: Coding) -> Bytes {
        let (level, quality) = match self.effort {
            Effort::Best => (flate2::Compression::default(), BROTLI_QUALITY),
            Effort::Fast => (
                flate2::Compression::new(VARIANT_GZIP_LEVEL),
                VARIANT_BROTLI_QUALITY,
            ),
        };
        match coding {
            Coding::Identity => self.identity.clone(),
            Coding::Gzip => self
                .gzip
                .get_or_init(|| gzip(&self.identity, level))
                .clone(),
            Coding::Br => self
                .br
                .get_or_init(|| brotli(&self.identity, quality))
                .clone(),
        }
    }

    /// The memory it holds: every body made so far, and its bookkeeping.
    pub fn bytes(&self) -> usize {
        self.identity.len()
            + self.gzip.get().map_or(0, Bytes::len)
            + self.br.get().map_or(0, Bytes::len)
            + self.hash.len()
            + ENTRY_OVERHEAD
    }
}

fn gzip(data: &[u8], level: flate2::Compression) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), level);
    // Writing to a Vec cannot fail.
    gz.write_all(data).expect("write to memory");
    Bytes::from(gz.finish().expect("write to memory"))
}

fn brotli(data: &[u8], quality: i32) -> Bytes {
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(data.len() / 5);
    // Reading from a slice and writing to a Vec cannot fail.
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).expect("write to memory");
    Bytes::from(out)
}
