//! Reading an event stream (`text/event-stream`, as the HTML standard's
//! server-sent events define it), for the clients that are not a browser:
//! the tests and the benchmarks.
//!
//! Bytes go in as they arrive, however a read split them; a line is decoded
//! only once it is whole, so a character split across two reads comes out
//! intact. Lines end in `\n`, `\r\n` or `\r`; a field's value loses one
//! leading space, so `data:x` and `data: x` are the same; several `data`
//! lines join with `\n`; a blank line ends an event, which counts only when
//! it carried data (or a name).

use std::collections::VecDeque;

/// One event: its name (`message` when it gave none), its `id` and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// What a stream carries: events, and comments (a server's keep-alives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseFrame {
    Event(SseEvent),
    /// The text after `:`, without one leading space.
    Comment(String),
}

/// An incremental parser: [`feed`](Self::feed) bytes, take frames with
/// [`next`](Self::next).
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    ready: VecDeque<SseFrame>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(offset) = self.pending[start..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
        {
            let end = start + offset;
            let next = if self.pending[end] == b'\r' {
                match self.pending.get(end + 1) {
                    // A `\r` that may be the first half of `\r\n`: wait.
                    None => break,
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                }
            } else {
                end + 1
            };
            let line = String::from_utf8_lossy(&self.pending[start..end]).into_owned();
            self.line(&line);
            start = next;
        }
        self.pending.drain(..start);
    }

    /// The next whole frame, if one has arrived.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<SseFrame> {
        self.ready.pop_front()
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            let (event, id, data) = (self.event.take(), self.id.take(), self.data.take());
            if data.is_some() || event.is_some() {
                self.ready.push_back(SseFrame::Event(SseEvent {
                    event: event.unwrap_or_else(|| "message".to_owned()),
                    id,
                    data: data.unwrap_or_default(),
                }));
            }
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "" => self.ready.push_back(SseFrame::Comment(value.to_owned())),
            "event" => self.event = Some(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &str, id: Option<&str>, data: &str) -> SseFrame {
        SseFrame::Event(SseEvent {
            event: event.to_owned(),
            id: id.map(str::to_owned),
            data: data.to_owned(),
        })
    }

    fn all(parser: &mut SseParser) -> Vec<SseFrame> {
        std::iter::from_fn(|| parser.next()).collect()
    }

    #[test]
    fn a_character_split_across_reads_comes_out_whole() {
        let bytes = "event: message\ndata: {\"text\":\"Dobrý den 👋\"}\n\n".as_bytes();
        // Every split point, including inside `ý` (2 bytes) and `👋` (4 bytes).
        for split in 0..bytes.len() {
            let mut parser = SseParser::new();
            parser.feed(&bytes[..split]);
            parser.feed(&bytes[split..]);
            assert_eq!(
                all(&mut parser),
                [event("message", None, "{\"text\":\"Dobrý den 👋\"}")],
                "split at {split}"
            );
        }
        // One byte at a time.
        let mut parser = SseParser::new();
        for byte in bytes {
            parser.feed(std::slice::from_ref(byte));
        }
        assert_eq!(all(&mut parser).len(), 1);
    }

    #[test]
    fn a_field_without_a_space_after_the_colon_is_read_the_same() {
        let mut parser = SseParser::new();
        parser.feed(
            b"event:status\nid:7\ndata:{\"v\":1}\n\nevent: status\nid: 8\ndata: {\"v\":2}\n\n",
        );
        assert_eq!(
            all(&mut parser),
            [
                event("status", Some("7"), "{\"v\":1}"),
                event("status", Some("8"), "{\"v\":2}")
            ]
        );
        // Only one space goes.
        parser.feed(b"data:  two spaces\n\n");
        assert_eq!(all(&mut parser), [event("message", None, " two spaces")]);
    }

    #[test]
    fn comments_line_endings_and_multi_line_data() {
        let mut parser = SseParser::new();
        parser.feed(b": keep-alive\r\n\r\ndata: one\rdata: two\r\rdata");
        assert_eq!(
            all(&mut parser),
            [
                SseFrame::Comment("keep-alive".to_owned()),
                event("message", None, "one\ntwo")
            ]
        );
        // `data` with no colon is an empty data line; a `\r` at the end of a
        // read waits for a possible `\n`.
        parser.feed(b"\r");
        assert_eq!(all(&mut parser), []);
        parser.feed(b"\n\n");
        assert_eq!(all(&mut parser), [event("message", None, "")]);
        // A blank line with nothing before it is no event; unknown fields are ignored.
        parser.feed(b"\n\nretry: 10\nfoo: bar\n\n");
        assert_eq!(all(&mut parser), []);
    }
}
