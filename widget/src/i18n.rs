//! The chat box's words in the five languages of CONTRACT §4.
//!
//! Every string exists in every language; the unit tests check that none is
//! empty and that the translations really differ from English where they should.

/// A language the chat box speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Fr,
    De,
    It,
    Es,
}

impl Lang {
    pub(crate) const ALL: [Lang; 5] = [Lang::En, Lang::Fr, Lang::De, Lang::It, Lang::Es];

    /// The language of a BCP 47 tag such as `de`, `fr-CH` or `es_419`, by its primary subtag.
    pub(crate) fn from_tag(tag: &str) -> Option<Lang> {
        // Bytes, not `split`: the widget then needs no string searcher.
        let (primary, rest) = tag.trim_ascii().as_bytes().split_at_checked(2)?;
        if !matches!(rest.first(), None | Some(b'-' | b'_')) {
            return None;
        }
        Lang::ALL
            .into_iter()
            .find(|lang| primary.eq_ignore_ascii_case(lang.code().as_bytes()))
    }

    /// The first supported language among `candidates` (the page's `data-lang`, then the
    /// browser's preferences, best first), else English.
    pub(crate) fn choose<'a>(candidates: impl IntoIterator<Item = &'a str>) -> Lang {
        candidates
            .into_iter()
            .find_map(Lang::from_tag)
            .unwrap_or(Lang::En)
    }

    /// The locale to format dates and times in: the browser's own tag when it is this
    /// language (so `en-GB` gets a 24-hour clock and `en-US` a 12-hour one), else the bare code.
    pub(crate) fn locale<'a>(self, browser_tags: impl IntoIterator<Item = &'a str>) -> &'a str {
        browser_tags
            .into_iter()
            .find(|tag| Lang::from_tag(tag) == Some(self) && is_plain_tag(tag))
            .unwrap_or(self.code())
    }

    pub(crate) fn code(self) -> &'static str {
        self.strings().code
    }

    pub(crate) fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
            Lang::De => &DE,
            Lang::It => &IT,
            Lang::Es => &ES,
        }
    }
}

/// Letters, digits and hyphens only: `Intl` throws on a malformed tag, and a browser's own
/// tags are well-formed, but a throw inside the widget would stop it.
fn is_plain_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 35
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Everything the chat box says, in one language.
///
/// `back_today` and `back_on_day` are sentences in pieces, around the visitor-local time and
/// weekday (or date, when it is a week away or more) that the browser formats in this
/// language: `["Back at ", ""]` reads "Back at {time}", `["Back on ", " at ", ""]` reads
/// "Back on {day} at {time}". Pieces rather than placeholders, because replacing text costs
/// the wasm a string searcher and its panic messages (kilobytes).
#[derive(Debug)]
pub(crate) struct Strings {
    /// The BCP 47 primary language subtag, for `lang` attributes.
    pub(crate) code: &'static str,
    /// The accessible name of the whole chat box.
    pub(crate) region: &'static str,
    /// The bubble while someone can answer (online or busy).
    pub(crate) bubble_chat: &'static str,
    /// The bubble while offline.
    pub(crate) bubble_offline: &'static str,
    pub(crate) title_online: &'static str,
    pub(crate) title_busy: &'static str,
    pub(crate) title_offline: &'static str,
    /// Shown while busy when the account has no busy message of its own.
    pub(crate) busy_message: &'static str,
    /// Shown while offline when the account has no offline message of its own.
    pub(crate) offline_message: &'static str,
    pub(crate) back_today: [&'static str; 2],
    pub(crate) back_on_day: [&'static str; 3],
    /// The label of the chat panel's text box.
    pub(crate) your_message: &'static str,
    pub(crate) name: &'static str,
    pub(crate) email: &'static str,
    /// The label of the leave-a-message form's text box.
    pub(crate) message: &'static str,
    pub(crate) send: &'static str,
    /// Next to the disabled send button until conversations (CONTRACT §3) exist.
    pub(crate) not_available: &'static str,
    /// The accessible name of the panel's close button.
    pub(crate) close: &'static str,
}

static EN: Strings = Strings {
    code: "en",
    region: "Live chat",
    bubble_chat: "Chat with us",
    bubble_offline: "Leave a message",
    title_online: "We’re online",
    title_busy: "We’re busy",
    title_offline: "We’re offline",
    busy_message: "We’re busy right now — we’ll be back shortly.",
    offline_message: "Leave us a message and we’ll get back to you by email.",
    back_today: ["Back at ", ""],
    back_on_day: ["Back on ", " at ", ""],
    your_message: "Your message",
    name: "Name",
    email: "Email",
    message: "Message",
    send: "Send",
    not_available: "Messaging is not available yet.",
    close: "Close chat",
};

static FR: Strings = Strings {
    code: "fr",
    region: "Chat en direct",
    bubble_chat: "Discutez avec nous",
    bubble_offline: "Laissez un message",
    title_online: "Nous sommes en ligne",
    title_busy: "Nous sommes occupés",
    title_offline: "Nous sommes hors ligne",
    busy_message: "Nous sommes occupés pour le moment — nous revenons très vite.",
    offline_message: "Laissez-nous un message et nous vous répondrons par e-mail.",
    back_today: ["De retour à ", ""],
    back_on_day: ["De retour ", " à ", ""],
    your_message: "Votre message",
    name: "Nom",
    email: "Adresse e-mail",
    message: "Votre message",
    send: "Envoyer",
    not_available: "L’envoi de messages n’est pas encore disponible.",
    close: "Fermer le chat",
};

static DE: Strings = Strings {
    code: "de",
    region: "Live-Chat",
    bubble_chat: "Chatten Sie mit uns",
    bubble_offline: "Nachricht hinterlassen",
    title_online: "Wir sind online",
    title_busy: "Wir sind gerade beschäftigt",
    title_offline: "Wir sind offline",
    busy_message: "Wir sind gerade sehr beschäftigt — wir sind gleich wieder für Sie da.",
    offline_message: "Hinterlassen Sie uns eine Nachricht, wir antworten Ihnen per E-Mail.",
    back_today: ["Wieder erreichbar um ", " Uhr"],
    back_on_day: ["Wieder erreichbar am ", " um ", " Uhr"],
    your_message: "Ihre Nachricht",
    // "Name" is German too.
    name: "Name",
    email: "E-Mail-Adresse",
    message: "Nachricht",
    send: "Senden",
    not_available: "Nachrichten können noch nicht gesendet werden.",
    close: "Chat schließen",
};

static IT: Strings = Strings {
    code: "it",
    region: "Chat dal vivo",
    bubble_chat: "Chatta con noi",
    bubble_offline: "Lascia un messaggio",
    title_online: "Siamo online",
    title_busy: "Siamo occupati",
    title_offline: "Siamo offline",
    busy_message: "Al momento siamo occupati — torniamo a breve.",
    offline_message: "Lasciaci un messaggio e ti risponderemo via email.",
    back_today: ["Di nuovo disponibili alle ", ""],
    back_on_day: ["Di nuovo disponibili ", " alle ", ""],
    your_message: "Il tuo messaggio",
    name: "Nome",
    email: "Indirizzo email",
    message: "Messaggio",
    send: "Invia",
    not_available: "L’invio dei messaggi non è ancora disponibile.",
    close: "Chiudi la chat",
};

static ES: Strings = Strings {
    code: "es",
    region: "Chat en vivo",
    bubble_chat: "Chatea con nosotros",
    bubble_offline: "Deja un mensaje",
    title_online: "Estamos en línea",
    title_busy: "Estamos ocupados",
    title_offline: "Estamos fuera de línea",
    busy_message: "Ahora mismo estamos ocupados — volvemos enseguida.",
    offline_message: "Déjanos un mensaje y te responderemos por correo electrónico.",
    back_today: ["Volvemos a las ", ""],
    back_on_day: ["Volvemos el ", " a las ", ""],
    your_message: "Tu mensaje",
    name: "Nombre",
    email: "Correo electrónico",
    message: "Mensaje",
    send: "Enviar",
    not_available: "El envío de mensajes aún no está disponible.",
    close: "Cerrar el chat",
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field, with its name, so a failing check says which string is wrong.
    fn fields(s: &Strings) -> [(&'static str, &'static str); 18] {
        [
            ("code", s.code),
            ("region", s.region),
            ("bubble_chat", s.bubble_chat),
            ("bubble_offline", s.bubble_offline),
            ("title_online", s.title_online),
            ("title_busy", s.title_busy),
            ("title_offline", s.title_offline),
            ("busy_message", s.busy_message),
            ("offline_message", s.offline_message),
            ("back_today", s.back_today[0]),
            ("back_on_day", s.back_on_day[0]),
            ("your_message", s.your_message),
            ("name", s.name),
            ("email", s.email),
            ("message", s.message),
            ("send", s.send),
            ("not_available", s.not_available),
            ("close", s.close),
        ]
    }

    #[test]
    fn every_string_exists_in_every_language() {
        for lang in Lang::ALL {
            for (name, text) in fields(lang.strings()) {
                assert!(!text.trim().is_empty(), "{lang:?}.{name} is empty");
            }
        }
    }

    #[test]
    fn translations_differ_from_english_where_the_languages_differ() {
        // The same word in both languages, correctly.
        let same_as_english = [(Lang::De, "name")];
        let english = fields(Lang::En.strings());
        for lang in [Lang::Fr, Lang::De, Lang::It, Lang::Es] {
            for ((name, text), (_, english_text)) in fields(lang.strings()).into_iter().zip(english)
            {
                if same_as_english.contains(&(lang, name)) {
                    continue;
                }
                assert_ne!(text, english_text, "{lang:?}.{name} is still English");
            }
        }
    }

    #[test]
    fn back_at_pieces_leave_room_for_the_time_and_day() {
        for lang in Lang::ALL {
            let [before_time, _] = lang.strings().back_today;
            assert!(before_time.ends_with(' '), "{lang:?}.back_today");
            let [before_day, between, _] = lang.strings().back_on_day;
            assert!(before_day.ends_with(' '), "{lang:?}.back_on_day");
            assert!(
                between.starts_with(' ') && between.ends_with(' '),
                "{lang:?}.back_on_day"
            );
        }
    }

    #[test]
    fn codes_round_trip() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_tag(lang.code()), Some(lang));
        }
    }

    #[test]
    fn a_tag_is_matched_by_its_primary_subtag() {
        let check =
            |tag: &str, expect: Option<Lang>| assert_eq!(Lang::from_tag(tag), expect, "{tag}");
        check("de", Some(Lang::De));
        check("de-CH", Some(Lang::De));
        check("FR-ca", Some(Lang::Fr));
        check("es_419", Some(Lang::Es));
        check(" it ", Some(Lang::It));
        check("en-GB", Some(Lang::En));
        check("pt-BR", None);
        check("", None);
        check("d", None);
        check("deu", None);
    }

    #[test]
    fn dates_use_the_browsers_regional_variant_of_the_chosen_language() {
        assert_eq!(Lang::En.locale(["en-GB", "de"]), "en-GB");
        assert_eq!(Lang::De.locale(["en-GB", "de-AT"]), "de-AT");
        assert_eq!(Lang::Fr.locale(["en-GB"]), "fr");
        assert_eq!(Lang::Es.locale(["es_ES"]), "es");
        assert_eq!(Lang::It.locale([]), "it");
    }

    #[test]
    fn data_lang_wins_then_the_browser_then_english() {
        assert_eq!(Lang::choose(["it", "de-DE"]), Lang::It);
        assert_eq!(Lang::choose(["pt", "de-DE", "fr"]), Lang::De);
        assert_eq!(Lang::choose(["", "es-ES"]), Lang::Es);
        assert_eq!(Lang::choose(["pt", "ja"]), Lang::En);
        assert_eq!(Lang::choose([]), Lang::En);
    }
}
