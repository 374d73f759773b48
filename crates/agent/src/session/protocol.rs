//! What the session helper and the service say over their pipe.
//!
//! A frame is a 4-byte little-endian length, then that many bytes of JSON
//! (one message). Frames are at most [`MAX_FRAME`] bytes: a longer length
//! is refused before anything is allocated. The helper always speaks first
//! and the service answers every message with exactly one [`ServiceMessage`]
//! (`ok`, or a command it has waiting for this session). So each side only
//! ever reads or writes, never both at once, and the helper's once-a-second
//! heartbeat is how commands reach it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, Read, Write};

/// Largest JSON body of a frame.
pub const MAX_FRAME: usize = 64 * 1024;
/// Bumped when a message changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

/// Helper → service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HelperMessage {
    /// The first message of a connection.
    Hello { version: u32, pid: u32 },
    /// Nothing to report; asks for waiting commands.
    Heartbeat,
    /// A window left the foreground after `dwell_ms`.
    Foreground { title: String, process: String, started_at_ms: i64, dwell_ms: u64 },
    /// The user's answer to [`ServiceMessage::Consent`] `id`.
    ConsentAnswer { id: u64, answer: Answer },
}

/// Service → helper: the answer to each [`HelperMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceMessage {
    Ok,
    /// Show a notice (OK button only).
    Notice { id: u64, text: String },
    /// Ask Yes/No; the answer comes back as `consent_answer`.
    Consent { id: u64, text: String },
    /// The service is stopping: exit.
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Yes,
    No,
    /// The prompt could not be shown (no desktop, too many open prompts).
    Failed,
}

#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    /// The stream ended inside a frame.
    Truncated { expected: usize, got: usize },
    /// The length prefix is over [`MAX_FRAME`].
    TooLarge(usize),
    /// The body is not the JSON of a message.
    Json(serde_json::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "パイプの読み書きに失敗しました (pipe I/O failed): {e}"),
            FrameError::Truncated { expected, got } => {
                write!(f, "メッセージが途中で切れています (truncated frame: {got} of {expected} bytes)")
            }
            FrameError::TooLarge(n) => write!(f, "メッセージが大きすぎます (frame of {n} bytes, limit {MAX_FRAME})"),
            FrameError::Json(e) => write!(f, "メッセージの形式が正しくありません (invalid message JSON): {e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            FrameError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// One message as a frame (prefix and body).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(msg).map_err(FrameError::Json)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Writes one message in a single write (a pipe then sees whole frames).
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one message. `Ok(None)`: the stream ended cleanly between frames.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<Option<T>, FrameError> {
    let mut prefix = [0u8; 4];
    let got = read_full(r, &mut prefix)?;
    if got == 0 {
        return Ok(None);
    }
    if got < prefix.len() {
        return Err(FrameError::Truncated { expected: prefix.len(), got });
    }
    let len = u32::from_le_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    let got = read_full(r, &mut body)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    serde_json::from_slice(&body).map(Some).map_err(FrameError::Json)
}

/// Fills `buf` unless the stream ends first; returns how much was read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frame_of(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_le_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn messages_round_trip_back_to_back() {
        let helper = [
            HelperMessage::Hello { version: PROTOCOL_VERSION, pid: 4242 },
            HelperMessage::Heartbeat,
            HelperMessage::Foreground { title: "水道料金システム - 検針".into(), process: "SUIDO.EXE".into(), started_at_ms: 1, dwell_ms: 65_000 },
            HelperMessage::ConsentAnswer { id: 7, answer: Answer::Yes },
        ];
        let mut stream = Vec::new();
        for m in &helper {
            write_frame(&mut stream, m).unwrap();
        }
        let mut r = Cursor::new(stream);
        for m in &helper {
            assert_eq!(read_frame::<_, HelperMessage>(&mut r).unwrap().as_ref(), Some(m));
        }
        assert!(read_frame::<_, HelperMessage>(&mut r).unwrap().is_none(), "clean end");

        let service = [
            ServiceMessage::Ok,
            ServiceMessage::Notice { id: 1, text: "本日 17 時に再起動します".into() },
            ServiceMessage::Consent { id: 2, text: "リモート操作を許可しますか?".into() },
            ServiceMessage::Exit,
        ];
        for m in &service {
            let bytes = encode(m).unwrap();
            assert_eq!(read_frame::<_, ServiceMessage>(&mut Cursor::new(bytes)).unwrap().as_ref(), Some(m));
        }
    }

    #[test]
    fn wire_format_is_a_little_endian_length_then_tagged_json() {
        let bytes = encode(&HelperMessage::ConsentAnswer { id: 3, answer: Answer::No }).unwrap();
        let body = br#"{"type":"consent_answer","id":3,"answer":"no"}"#;
        assert_eq!(&bytes[..4], &(body.len() as u32).to_le_bytes());
        assert_eq!(&bytes[4..], body);
        assert_eq!(encode(&ServiceMessage::Ok).unwrap()[4..], *br#"{"type":"ok"}"#);
    }

    #[test]
    fn truncated_frames_are_errors() {
        let full = encode(&HelperMessage::Heartbeat).unwrap();
        for cut in 1..full.len() {
            let err = read_frame::<_, HelperMessage>(&mut Cursor::new(&full[..cut])).unwrap_err();
            assert!(matches!(err, FrameError::Truncated { .. }), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn an_oversized_length_is_refused_without_reading_the_body() {
        let mut bytes = ((MAX_FRAME + 1) as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        assert!(matches!(read_frame::<_, HelperMessage>(&mut Cursor::new(bytes)), Err(FrameError::TooLarge(n)) if n == MAX_FRAME + 1));
        let huge = u32::MAX.to_le_bytes();
        assert!(matches!(read_frame::<_, HelperMessage>(&mut Cursor::new(huge)), Err(FrameError::TooLarge(_))));
        // Exactly at the cap is allowed (and then judged as JSON).
        let at_cap = frame_of(&vec![b' '; MAX_FRAME]);
        assert!(matches!(read_frame::<_, HelperMessage>(&mut Cursor::new(at_cap)), Err(FrameError::Json(_))));
        // Nothing that large is ever sent.
        let big = ServiceMessage::Notice { id: 1, text: "あ".repeat(MAX_FRAME) };
        assert!(matches!(encode(&big), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn bad_json_and_unknown_messages_are_errors() {
        for body in [&b""[..], b"{", b"null", b"[]", b"{\"type\":\"format_disk\"}", b"{\"type\":\"hello\"}", b"\xff\xfe", b"{\"type\":\"hello\",\"version\":-1,\"pid\":1}"] {
            let err = read_frame::<_, HelperMessage>(&mut Cursor::new(frame_of(body))).unwrap_err();
            assert!(matches!(err, FrameError::Json(_)), "{:?}: {err}", String::from_utf8_lossy(body));
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn io_errors_pass_through() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
            }
        }
        assert!(matches!(read_frame::<_, HelperMessage>(&mut Broken), Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn reads_split_into_single_bytes_still_make_whole_frames() {
        struct Trickle(Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(1);
                self.0.read(&mut buf[..n])
            }
        }
        let m = HelperMessage::Foreground { title: "メモ帳".into(), process: "notepad.exe".into(), started_at_ms: 5, dwell_ms: 9 };
        let mut r = Trickle(Cursor::new(encode(&m).unwrap()));
        assert_eq!(read_frame::<_, HelperMessage>(&mut r).unwrap(), Some(m));
    }

    #[test]
    fn random_bytes_never_panic() {
        // Deterministic: a small xorshift, so a failure replays.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid = encode(&HelperMessage::Foreground { title: "t".into(), process: "p".into(), started_at_ms: 0, dwell_ms: 0 }).unwrap();
        for _ in 0..5000 {
            let mut bytes = if next() % 2 == 0 { valid.clone() } else { (0..next() % 64).map(|_| next() as u8).collect() };
            // Flip a few bytes, sometimes in the length prefix.
            for _ in 0..next() % 4 {
                if !bytes.is_empty() {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = next() as u8;
                }
            }
            let mut r = Cursor::new(bytes);
            // Read until the stream ends or fails; must neither panic nor loop.
            for _ in 0..100 {
                match read_frame::<_, HelperMessage>(&mut r) {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
            let _ = read_frame::<_, ServiceMessage>(&mut Cursor::new(vec![next() as u8; 7]));
        }
    }
}
