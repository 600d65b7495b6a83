//! Character classes of the basic tokenizer.
//!
//! Categories come from the `unicode_categories` tables, the ones transformers' `BertTokenizer`
//! (through the `tokenizers` library) uses, so that a character new to Unicode is classified the
//! same way on both sides (it is "unassigned", hence a control character, in both).

use unicode_categories::UnicodeCategories;

/// Whitespace for text cleaning: tab, newline and carriage return (control characters that count
/// as whitespace) and every character with the Unicode `White_Space` property.
pub(crate) fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Control characters removed by text cleaning: the `C*` categories (control, format, private
/// use, surrogate, unassigned) except tab, newline and carriage return.
pub(crate) fn is_control(c: char) -> bool {
    if c.is_ascii() {
        // The only `C*` characters of ASCII are the `Cc` ones (a table search otherwise).
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    c.is_other()
}

/// Punctuation: every ASCII non-alphanumeric symbol (`$`, `+`, `^`, ... too) and the Unicode `P*`
/// categories. Each punctuation character becomes a word of its own.
pub(crate) fn is_punctuation(c: char) -> bool {
    match c.is_ascii() {
        // ASCII's `P*` characters are all ASCII punctuation (a table search otherwise).
        true => c.is_ascii_punctuation(),
        false => c.is_punctuation(),
    }
}

/// A character of the CJK Unified Ideographs blocks (and their extensions and compatibility
/// blocks), which the basic tokenizer surrounds with spaces. Hangul, Hiragana and Katakana are not
/// in these blocks: they are written with spaces between words and are left alone.
///
/// The ranges are those of transformers' `BertTokenizer`, including its extension-C/D/E range that
/// starts at U+2B920 rather than U+2B820.
pub(crate) fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// A non-spacing mark (`Mn`): what accent stripping removes after canonical decomposition.
pub(crate) fn is_nonspacing_mark(c: char) -> bool {
    !c.is_ascii() && c.is_mark_nonspacing()
}

/// Whitespace as Python's `str.split()` sees it: Unicode `White_Space` plus the information
/// separators U+001C..U+001F. Used when basic tokenization is off, where words are the pieces of
/// `text.split()`, as in the original BERT tokenizer.
pub(crate) fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_shortcuts_agree_with_the_unicode_tables() {
        for c in (0u8..128).map(char::from) {
            let control = !matches!(c, '\t' | '\n' | '\r') && c.is_other();
            assert_eq!(is_control(c), control, "{c:?}");
            let punctuation = c.is_ascii_punctuation() || c.is_punctuation();
            assert_eq!(is_punctuation(c), punctuation, "{c:?}");
            assert_eq!(is_nonspacing_mark(c), c.is_mark_nonspacing(), "{c:?}");
        }
    }

    #[test]
    fn tab_newline_carriage_return_are_whitespace_not_control() {
        for c in ['\t', '\n', '\r'] {
            assert!(is_whitespace(c));
            assert!(!is_control(c));
        }
    }

    #[test]
    fn unicode_spaces_are_whitespace() {
        for c in [' ', '\u{a0}', '\u{3000}', '\u{2028}', '\u{2003}'] {
            assert!(is_whitespace(c), "{c:?}");
        }
        assert!(!is_whitespace('a'));
    }

    #[test]
    fn control_format_and_private_use_are_control() {
        // \x0b and \x85 are Cc (removed, not mapped to a space); U+200B is Cf; U+E000 is Co.
        for c in [
            '\u{0}', '\u{7}', '\u{b}', '\u{85}', '\u{200b}', '\u{feff}', '\u{e000}',
        ] {
            assert!(is_control(c), "{c:?}");
        }
        assert!(!is_control('a'));
        assert!(!is_control('\u{2028}'));
    }

    #[test]
    fn ascii_symbols_and_unicode_p_are_punctuation() {
        for c in [
            '$', '+', '^', '`', '~', '|', '<', '.', '-', '¿', '。', '«', '—', '、',
        ] {
            assert!(is_punctuation(c), "{c:?}");
        }
        // Unicode symbols outside ASCII are not punctuation.
        for c in ['€', '©', '😀', 'a', '1'] {
            assert!(!is_punctuation(c), "{c:?}");
        }
    }

    #[test]
    fn cjk_ideographs_but_not_kana_or_hangul() {
        for c in ['中', '東', '\u{3400}', '\u{20000}', '\u{f900}'] {
            assert!(is_chinese_char(c), "{c:?}");
        }
        for c in ['か', 'カ', '한', 'a', '\u{2b820}'] {
            assert!(!is_chinese_char(c), "{c:?}");
        }
    }

    #[test]
    fn accents_are_nonspacing_marks() {
        assert!(is_nonspacing_mark('\u{301}'));
        assert!(is_nonspacing_mark('\u{308}'));
        assert!(!is_nonspacing_mark('e'));
    }

    #[test]
    fn python_split_also_splits_on_information_separators() {
        assert!(is_python_whitespace('\u{1c}'));
        assert!(is_python_whitespace('\u{85}'));
        assert!(!is_whitespace('\u{1c}'));
    }
}
