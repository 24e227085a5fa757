//! Just enough JSON to read one top-level string out of `cargo metadata`, so xtask needs no
//! serde. It walks the top-level object properly instead of searching for the key's text, because
//! the same key can appear inside other values (package metadata is free-form).

use crate::Result;

/// The string value of `key` in the top-level object of `json`.
pub(crate) fn top_level_string(json: &str, key: &str) -> Result<String> {
    let mut reader = Reader::new(json);
    reader.expect(b'{')?;
    if reader.eat(b'}') {
        return Err(format!("no top-level `{key}` field"));
    }
    loop {
        let name = reader.string()?;
        reader.expect(b':')?;
        if name == key {
            return reader.string();
        }
        reader.skip_value()?;
        if !reader.eat(b',') {
            reader.expect(b'}')?;
            return Err(format!("no top-level `{key}` field"));
        }
    }
}

#[derive(Debug)]
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn new(json: &'a str) -> Self {
        Self {
            bytes: json.as_bytes(),
            position: 0,
        }
    }

    /// Consumes `byte` (after any whitespace) if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.peek() == Some(byte);
        if found {
            self.position += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.eat(byte) {
            return Ok(());
        }
        Err(format!(
            "expected `{}` at byte {}",
            char::from(byte),
            self.position
        ))
    }

    fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut decoded = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let mut utf8 = [0; 4];
                    decoded.extend_from_slice(self.escape()?.encode_utf8(&mut utf8).as_bytes());
                }
                byte => decoded.push(byte),
            }
        }
        // The input is a `&str` and escapes decode to whole characters, so this cannot fail.
        String::from_utf8(decoded).map_err(|error| error.to_string())
    }

    /// The character of an escape sequence whose backslash has just been read.
    fn escape(&mut self) -> Result<char> {
        let escaped = match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            other => return Err(format!("unknown escape `\\{}`", char::from(other))),
        };
        Ok(escaped)
    }

    /// `\uXXXX`, or a UTF-16 surrogate pair `\uXXXX\uXXXX` for characters beyond the BMP.
    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.next()? != b'\\' || self.next()? != b'u' {
                return Err("unpaired surrogate in `\\u` escape".to_string());
            }
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err("unpaired surrogate in `\\u` escape".to_string());
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| format!("invalid `\\u` escape {code:#x}"))
    }

    fn hex4(&mut self) -> Result<u32> {
        let end = self.position + 4;
        let digits = self
            .bytes
            .get(self.position..end)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u32::from_str_radix(digits, 16).ok())
            .ok_or_else(|| format!("bad `\\u` escape at byte {}", self.position))?;
        self.position = end;
        Ok(digits)
    }

    fn skip_value(&mut self) -> Result<()> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{' | b'[') => self.skip_nested(),
            _ => self.skip_scalar(),
        }
    }

    /// Skips an object or array, minding strings so brackets inside them do not count.
    /// Bracket kinds are not matched against each other: cargo's output is well-formed.
    fn skip_nested(&mut self) -> Result<()> {
        let mut depth = 0_usize;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                    continue;
                }
                Some(b'{' | b'[') => depth += 1,
                Some(b'}' | b']') => depth -= 1,
                _ => {}
            }
            self.next()?;
            if depth == 0 {
                return Ok(());
            }
        }
    }

    /// Skips a number, `true`, `false` or `null`.
    fn skip_scalar(&mut self) -> Result<()> {
        let start = self.position;
        while let Some(byte) = self.peek() {
            if matches!(byte, b',' | b'}' | b']') || byte.is_ascii_whitespace() {
                break;
            }
            self.position += 1;
        }
        if self.position == start {
            return Err(format!("expected a value at byte {start}"));
        }
        Ok(())
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.position += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn next(&mut self) -> Result<u8> {
        let byte = self
            .peek()
            .ok_or_else(|| "unexpected end of input".to_string())?;
        self.position += 1;
        Ok(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::top_level_string;

    fn check(json: &str, expected: Result<&str, &str>) {
        let actual = top_level_string(json, "target_directory");
        assert_eq!(
            actual.as_deref(),
            expected.map_err(str::to_string).as_deref()
        );
    }

    #[test]
    fn reads_a_plain_top_level_string() {
        check(
            r#"{"version":1,"target_directory":"/home/me/onair/target","workspace_root":"/x"}"#,
            Ok("/home/me/onair/target"),
        );
    }

    #[test]
    fn decodes_escapes_such_as_windows_backslashes() {
        check(
            r#"{"target_directory":"C:\\Users\\J\u00e9r\u00f4me\\\ud83d\ude00\/t\"x\""}"#,
            Ok("C:\\Users\\Jérôme\\😀/t\"x\""),
        );
    }

    #[test]
    fn ignores_the_key_inside_other_values() {
        check(
            r#"{"packages":[{"target_directory":"wrong","s":"}]\"{[","n":-1.5e3,"b":true}],
               "metadata":{"target_directory":"also wrong"}, "workspace_members" : [ ],
               "target_directory" : "right"}"#,
            Ok("right"),
        );
    }

    #[test]
    fn reports_a_missing_field() {
        check(
            r#"{"version":1,"other":"x"}"#,
            Err("no top-level `target_directory` field"),
        );
        check("{}", Err("no top-level `target_directory` field"));
    }

    #[test]
    fn rejects_malformed_input_instead_of_guessing() {
        check(
            r#"{"target_directory":null}"#,
            Err("expected `\"` at byte 20"),
        );
        check(
            r#"{"target_directory":"/unterminated"#,
            Err("unexpected end of input"),
        );
        check("warning: not json", Err("expected `{` at byte 0"));
        check(
            r#"{"target_directory":"\ud83d"}"#,
            Err("unpaired surrogate in `\\u` escape"),
        );
    }
}
