//! The chat box's words in the five languages of widget/README.md
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
        // Not `self.strings().code`: the shipped wasm holds English alone (see [`Lang::strings`]).
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::It => "it",
            Lang::Es => "es",
        }
    }

    /// English, built into the wasm.
    pub(crate) fn english() -> &'static Strings {
        &EN
    }

    /// All five languages. The shipped wasm does not call this, so only English ([`Lang::english`])
    /// is in it; the other four are files the loader fetches for the visitor who needs one
    /// (`strings_json`, widget/README.md), read by `dom::read_strings`. The browser tests (with the
    /// `test-hooks` feature) take them from here.
    #[cfg_attr(
        all(target_arch = "wasm32", not(feature = "test-hooks")),
        allow(dead_code)
    )]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub(crate) back_today: [&'static str; 2],
    pub(crate) back_on_day: [&'static str; 3],
    /// The label of the chat panel's text box.
    pub(crate) your_message: &'static str,
    pub(crate) name: &'static str,
    pub(crate) email: &'static str,
    /// The label of the leave-a-message form's text box.
    pub(crate) message: &'static str,
    pub(crate) send: &'static str,
    /// The send button while a message is on its way.
    pub(crate) sending: &'static str,
    /// The accessible name of the list of messages.
    pub(crate) conversation: &'static str,
    /// Who wrote a message: the visitor (for screen readers only), an agent, an automatic reply.
    pub(crate) you: &'static str,
    pub(crate) agent: &'static str,
    pub(crate) bot: &'static str,
    /// Announced while the panel is closed, before the reply's text.
    pub(crate) new_from_agent: &'static str,
    pub(crate) new_from_bot: &'static str,
    /// Unread replies on the bubble: `[one, after_count]`, "1 new message", "{n} new messages".
    pub(crate) unread: [&'static str; 2],
    /// After the leave-a-message form was sent, when the server emails replies…
    pub(crate) sent: &'static str,
    /// …and when it does not.
    pub(crate) sent_no_email: &'static str,
    /// The conversation was closed: the next message starts a new one.
    pub(crate) ended: &'static str,
    /// A message with nothing but spaces.
    pub(crate) no_text: &'static str,
    /// `[before_count, after_count]`: a message over the limit, with its length.
    pub(crate) too_long: [&'static str; 2],
    /// `[before_seconds, after_seconds]`: the server's rate limit, with its `Retry-After`.
    pub(crate) rate_limited: [&'static str; 2],
    pub(crate) missing_email: &'static str,
    pub(crate) invalid_email: &'static str,
    /// The request did not reach the server, or its answer was not understood.
    pub(crate) failed: &'static str,
    /// The accessible name of the panel's close button.
    pub(crate) close: &'static str,
    /// After an agent's name (or [`Strings::agent`]) while they write a reply.
    pub(crate) typing: &'static str,
}

/// How many strings a language has (see [`Strings::list`]).
const COUNT: usize = 39;

impl Strings {
    /// The strings from a list in the order of [`Strings::list`] (the file of one language),
    /// `None` unless it has exactly [`Strings::list`]'s number.
    #[cfg(test)]
    pub(crate) fn from_list(list: &[&'static str]) -> Option<Strings> {
        Strings::from_texts(list.iter().copied())
    }

    /// The strings of `texts`, in the order of [`Strings::list`]; `None` unless there are
    /// exactly [`COUNT`]. Each goes into its place ([`Strings::slot`]) in a copy of English's:
    /// taking a list apart with one slice pattern was a load and a store a string (bytes).
    pub(crate) fn from_texts(texts: impl IntoIterator<Item = &'static str>) -> Option<Strings> {
        let mut strings = EN.clone();
        let mut count = 0;
        for text in texts {
            *strings.slot(count)? = text;
            count += 1;
        }
        (count == COUNT).then_some(strings)
    }

    /// The string at `index` in the order of [`Strings::list`], to be replaced; `None` past
    /// the last. Not inlined: a `Strings` kept in memory, this is a table of offsets; inlined,
    /// its 39 fields became as many locals and this a jump to each (bytes).
    #[inline(never)]
    fn slot(&mut self, index: usize) -> Option<&mut &'static str> {
        let s = self;
        Some(match index {
            0 => &mut s.code,
            1 => &mut s.region,
            2 => &mut s.bubble_chat,
            3 => &mut s.bubble_offline,
            4 => &mut s.title_online,
            5 => &mut s.title_busy,
            6 => &mut s.title_offline,
            7 => &mut s.back_today[0],
            8 => &mut s.back_today[1],
            9 => &mut s.back_on_day[0],
            10 => &mut s.back_on_day[1],
            11 => &mut s.back_on_day[2],
            12 => &mut s.your_message,
            13 => &mut s.name,
            14 => &mut s.email,
            15 => &mut s.message,
            16 => &mut s.send,
            17 => &mut s.sending,
            18 => &mut s.conversation,
            19 => &mut s.you,
            20 => &mut s.agent,
            21 => &mut s.bot,
            22 => &mut s.new_from_agent,
            23 => &mut s.new_from_bot,
            24 => &mut s.unread[0],
            25 => &mut s.unread[1],
            26 => &mut s.sent,
            27 => &mut s.sent_no_email,
            28 => &mut s.ended,
            29 => &mut s.no_text,
            30 => &mut s.too_long[0],
            31 => &mut s.too_long[1],
            32 => &mut s.rate_limited[0],
            33 => &mut s.rate_limited[1],
            34 => &mut s.missing_email,
            35 => &mut s.invalid_email,
            36 => &mut s.failed,
            37 => &mut s.close,
            38 => &mut s.typing,
            _ => return None,
        })
    }

    /// Every string, in the order of a language's file (that of [`Strings::slot`]).
    #[cfg(any(not(target_arch = "wasm32"), feature = "test-hooks"))]
    pub(crate) fn list(&self) -> [&'static str; COUNT] {
        let mut copy = self.clone();
        core::array::from_fn(|index| copy.slot(index).map_or("", |text| *text))
    }
}

/// The file of the language `code` (not English, which the wasm has): a JSON array of its
/// strings in the order of [`Strings::list`]. Written by `cargo xtask widget` into `www/pkg/`
/// (`examples/strings.rs`), for the loader to fetch.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn strings_json(code: &str) -> Option<String> {
    let lang = Lang::ALL
        .into_iter()
        .find(|lang| *lang != Lang::En && lang.code() == code)?;
    let mut json = String::from("[");
    for (index, text) in lang.strings().list().iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        json.push('"');
        for c in text.chars() {
            match c {
                '"' | '\\' => {
                    json.push('\\');
                    json.push(c);
                }
                '\n' => json.push_str("\\n"),
                c if c < ' ' => return None,
                c => json.push(c),
            }
        }
        json.push('"');
    }
    json.push(']');
    Some(json)
}

static EN: Strings = Strings {
    code: "en",
    region: "Live chat",
    bubble_chat: "Chat with us",
    bubble_offline: "Leave a message",
    title_online: "We’re online",
    title_busy: "We’re busy",
    title_offline: "We’re offline",
    back_today: ["Back at ", ""],
    back_on_day: ["Back on ", " at ", ""],
    your_message: "Your message",
    name: "Name",
    email: "Email",
    message: "Message",
    send: "Send",
    sending: "Sending…",
    conversation: "Conversation",
    you: "You",
    agent: "Agent",
    bot: "Automatic reply",
    new_from_agent: "New message from an agent: ",
    new_from_bot: "New automatic message: ",
    unread: ["1 new message", " new messages"],
    sent: "Thanks — we’ll get back to you by email.",
    sent_no_email: "Thanks — we have your message and will get back to you.",
    ended: "This conversation has ended. Your next message starts a new one.",
    no_text: "Please write a message first.",
    too_long: [
        "Your message is too long: ",
        " characters, at most 4000 please.",
    ],
    rate_limited: ["Too many messages — please try again in ", " s."],
    missing_email: "Please leave your email address so we can answer you.",
    invalid_email: "Please check your email address.",
    failed: "Your message could not be sent. Please check your connection and try again.",
    close: "Close chat",
    typing: " is typing…",
};

static FR: Strings = Strings {
    code: "fr",
    region: "Chat en direct",
    bubble_chat: "Discutez avec nous",
    bubble_offline: "Laissez un message",
    title_online: "Nous sommes en ligne",
    title_busy: "Nous sommes occupés",
    title_offline: "Nous sommes hors ligne",
    back_today: ["De retour à ", ""],
    back_on_day: ["De retour ", " à ", ""],
    your_message: "Votre message",
    name: "Nom",
    email: "Adresse e-mail",
    message: "Votre message",
    send: "Envoyer",
    sending: "Envoi…",
    // "Conversation" is French too.
    conversation: "Conversation",
    you: "Vous",
    agent: "Conseiller",
    bot: "Réponse automatique",
    new_from_agent: "Nouveau message d’un conseiller : ",
    new_from_bot: "Nouveau message automatique : ",
    unread: ["1 nouveau message", " nouveaux messages"],
    sent: "Merci — nous vous répondrons par e-mail.",
    sent_no_email: "Merci — nous avons bien reçu votre message et vous répondrons.",
    ended: "Cette conversation est terminée. Votre prochain message en commencera une nouvelle.",
    no_text: "Veuillez d’abord écrire un message.",
    too_long: [
        "Votre message est trop long : ",
        " caractères, 4000 au maximum.",
    ],
    rate_limited: ["Trop de messages — veuillez réessayer dans ", " s."],
    missing_email: "Indiquez votre adresse e-mail pour que nous puissions vous répondre.",
    invalid_email: "Veuillez vérifier votre adresse e-mail.",
    failed: "Votre message n’a pas pu être envoyé. Vérifiez votre connexion et réessayez.",
    close: "Fermer le chat",
    typing: " écrit…",
};

static DE: Strings = Strings {
    code: "de",
    region: "Live-Chat",
    bubble_chat: "Chatten Sie mit uns",
    bubble_offline: "Nachricht hinterlassen",
    title_online: "Wir sind online",
    title_busy: "Wir sind gerade beschäftigt",
    title_offline: "Wir sind offline",
    back_today: ["Wieder erreichbar um ", " Uhr"],
    back_on_day: ["Wieder erreichbar am ", " um ", " Uhr"],
    your_message: "Ihre Nachricht",
    // "Name" is German too.
    name: "Name",
    email: "E-Mail-Adresse",
    message: "Nachricht",
    send: "Senden",
    sending: "Wird gesendet…",
    conversation: "Unterhaltung",
    you: "Sie",
    agent: "Mitarbeiter",
    bot: "Automatische Antwort",
    new_from_agent: "Neue Nachricht von einem Mitarbeiter: ",
    new_from_bot: "Neue automatische Nachricht: ",
    unread: ["1 neue Nachricht", " neue Nachrichten"],
    sent: "Danke — wir antworten Ihnen per E-Mail.",
    sent_no_email: "Danke — wir haben Ihre Nachricht erhalten und melden uns bei Ihnen.",
    ended: "Diese Unterhaltung wurde beendet. Mit Ihrer nächsten Nachricht beginnt eine neue.",
    no_text: "Bitte schreiben Sie zuerst eine Nachricht.",
    too_long: [
        "Ihre Nachricht ist zu lang: ",
        " Zeichen, höchstens 4000 bitte.",
    ],
    rate_limited: [
        "Zu viele Nachrichten — bitte versuchen Sie es in ",
        " s erneut.",
    ],
    missing_email: "Bitte geben Sie Ihre E-Mail-Adresse an, damit wir Ihnen antworten können.",
    invalid_email: "Bitte prüfen Sie Ihre E-Mail-Adresse.",
    failed: "Ihre Nachricht konnte nicht gesendet werden. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
    close: "Chat schließen",
    typing: " schreibt…",
};

static IT: Strings = Strings {
    code: "it",
    region: "Chat dal vivo",
    bubble_chat: "Chatta con noi",
    bubble_offline: "Lascia un messaggio",
    title_online: "Siamo online",
    title_busy: "Siamo occupati",
    title_offline: "Siamo offline",
    back_today: ["Di nuovo disponibili alle ", ""],
    back_on_day: ["Di nuovo disponibili ", " alle ", ""],
    your_message: "Il tuo messaggio",
    name: "Nome",
    email: "Indirizzo email",
    message: "Messaggio",
    send: "Invia",
    sending: "Invio in corso…",
    conversation: "Conversazione",
    you: "Tu",
    agent: "Operatore",
    bot: "Risposta automatica",
    new_from_agent: "Nuovo messaggio da un operatore: ",
    new_from_bot: "Nuovo messaggio automatico: ",
    unread: ["1 nuovo messaggio", " nuovi messaggi"],
    sent: "Grazie — ti risponderemo via email.",
    sent_no_email: "Grazie — abbiamo ricevuto il tuo messaggio e ti risponderemo.",
    ended: "Questa conversazione è terminata. Il tuo prossimo messaggio ne inizierà una nuova.",
    no_text: "Scrivi prima un messaggio.",
    too_long: [
        "Il tuo messaggio è troppo lungo: ",
        " caratteri, al massimo 4000.",
    ],
    rate_limited: ["Troppi messaggi — riprova tra ", " s."],
    missing_email: "Lasciaci il tuo indirizzo email così possiamo risponderti.",
    invalid_email: "Controlla il tuo indirizzo email.",
    failed: "Non è stato possibile inviare il messaggio. Controlla la connessione e riprova.",
    close: "Chiudi la chat",
    typing: " sta scrivendo…",
};

static ES: Strings = Strings {
    code: "es",
    region: "Chat en vivo",
    bubble_chat: "Chatea con nosotros",
    bubble_offline: "Deja un mensaje",
    title_online: "Estamos en línea",
    title_busy: "Estamos ocupados",
    title_offline: "Estamos fuera de línea",
    back_today: ["Volvemos a las ", ""],
    back_on_day: ["Volvemos el ", " a las ", ""],
    your_message: "Tu mensaje",
    name: "Nombre",
    email: "Correo electrónico",
    message: "Mensaje",
    send: "Enviar",
    sending: "Enviando…",
    conversation: "Conversación",
    you: "Tú",
    agent: "Agente",
    bot: "Respuesta automática",
    new_from_agent: "Nuevo mensaje de un agente: ",
    new_from_bot: "Nuevo mensaje automático: ",
    unread: ["1 mensaje nuevo", " mensajes nuevos"],
    sent: "Gracias — te responderemos por correo electrónico.",
    sent_no_email: "Gracias — hemos recibido tu mensaje y te responderemos.",
    ended: "Esta conversación ha terminado. Tu próximo mensaje iniciará una nueva.",
    no_text: "Escribe un mensaje primero.",
    too_long: [
        "Tu mensaje es demasiado largo: ",
        " caracteres, 4000 como máximo.",
    ],
    rate_limited: ["Demasiados mensajes — inténtalo de nuevo en ", " s."],
    missing_email: "Déjanos tu correo electrónico para que podamos responderte.",
    invalid_email: "Revisa tu correo electrónico.",
    failed: "No hemos podido enviar tu mensaje. Comprueba tu conexión e inténtalo de nuevo.",
    close: "Cerrar el chat",
    typing: " está escribiendo…",
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field, with its name, so a failing check says which string is wrong.
    fn fields(s: &Strings) -> Vec<(&'static str, &'static str)> {
        vec![
            ("code", s.code),
            ("region", s.region),
            ("bubble_chat", s.bubble_chat),
            ("bubble_offline", s.bubble_offline),
            ("title_online", s.title_online),
            ("title_busy", s.title_busy),
            ("title_offline", s.title_offline),
            ("back_today", s.back_today[0]),
            ("back_on_day", s.back_on_day[0]),
            ("your_message", s.your_message),
            ("name", s.name),
            ("email", s.email),
            ("message", s.message),
            ("send", s.send),
            ("sending", s.sending),
            ("conversation", s.conversation),
            ("you", s.you),
            ("agent", s.agent),
            ("bot", s.bot),
            ("new_from_agent", s.new_from_agent),
            ("new_from_bot", s.new_from_bot),
            ("unread_one", s.unread[0]),
            ("unread_many", s.unread[1]),
            ("sent", s.sent),
            ("sent_no_email", s.sent_no_email),
            ("ended", s.ended),
            ("no_text", s.no_text),
            ("too_long", s.too_long[0]),
            ("too_long_after", s.too_long[1]),
            ("rate_limited", s.rate_limited[0]),
            ("missing_email", s.missing_email),
            ("invalid_email", s.invalid_email),
            ("failed", s.failed),
            ("close", s.close),
        ]
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn a_languages_file_lists_its_strings_in_the_order_they_are_read_back() {
        for lang in Lang::ALL {
            let strings = lang.strings();
            assert_eq!(Strings::from_list(&strings.list()).as_ref(), Some(strings));
            assert_eq!(strings.code, lang.code());
        }
        assert_eq!(Strings::from_list(&["fr"]), None);
        let german = strings_json("de").unwrap();
        assert!(german.starts_with(r#"["de","Live-Chat","Chatten Sie mit uns","#));
        assert!(german.ends_with(r#"" schreibt…"]"#), "{german}");
        // English is in the wasm; there is no file of it.
        assert_eq!(strings_json("en"), None);
        assert_eq!(strings_json("nl"), None);
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
        let same_as_english = [(Lang::De, "name"), (Lang::Fr, "conversation")];
        let english = fields(Lang::En.strings());
        for lang in [Lang::Fr, Lang::De, Lang::It, Lang::Es] {
            for ((name, text), (_, english_text)) in fields(lang.strings())
                .into_iter()
                .zip(english.iter().copied())
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
    fn pieces_around_numbers_leave_room_for_them() {
        for lang in Lang::ALL {
            let s = lang.strings();
            for (name, [before, after]) in
                [("too_long", s.too_long), ("rate_limited", s.rate_limited)]
            {
                assert!(before.ends_with(' '), "{lang:?}.{name}");
                assert!(after.starts_with(' '), "{lang:?}.{name}");
            }
            assert!(s.unread[0].starts_with('1'), "{lang:?}.unread");
            assert!(s.unread[1].starts_with(' '), "{lang:?}.unread");
            for prefix in [s.new_from_agent, s.new_from_bot] {
                assert!(prefix.ends_with(": "), "{lang:?}: {prefix}");
            }
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
