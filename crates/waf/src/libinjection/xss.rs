//! libinjection's XSS detection (`@detectXSS`): the input is tokenized as HTML5 from each place
//! an application may paste it (text, or an attribute value unquoted, single-, double- or
//! back-quoted), and it is XSS when it opens a dangerous tag (script, iframe, svg, xsl …),
//! names an event handler or another dangerous attribute, gives a URL attribute a
//! `javascript:`/`data:`/`vbscript:`/`view-source:` value (HTML entities decoded), holds a
//! doctype, or an IE conditional, import or entity comment. The tag and attribute lists are
//! libinjection's.

use super::html5::{Kind, Start, Tokenizer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    None,
    Black,
    Url,
    Style,
    /// The attribute's name is given in its value (SVG `attributeName`).
    Indirect,
}

/// Event handler names (after `on`), libinjection's list from WebKit's event names; a name
/// that merely starts with one counts.
const EVENTS: &[&str] = &[
    "ABORT",
    "ACTIVATE",
    "ACTIVE",
    "ADDSOURCEBUFFER",
    "ADDSTREAM",
    "ADDTRACK",
    "AFTERPRINT",
    "ANIMATIONCANCEL",
    "ANIMATIONEND",
    "ANIMATIONITERATION",
    "ANIMATIONSTART",
    "AUDIOEND",
    "AUDIOPROCESS",
    "AUDIOSTART",
    "AUTOCOMPLETEERROR",
    "AUTOCOMPLETE",
    "BEFOREACTIVATE",
    "BEFORECOPY",
    "BEFORECUT",
    "BEFOREINPUT",
    "BEFORELOAD",
    "BEFOREPASTE",
    "BEFOREPRINT",
    "BEFOREUNLOAD",
    "BEGINEVENT",
    "BLOCKED",
    "BLUR",
    "BOUNDARY",
    "BUFFEREDAMOUNTLOW",
    "CACHED",
    "CANCEL",
    "CANPLAYTHROUGH",
    "CANPLAY",
    "CHANGE",
    "CHARGINGCHANGE",
    "CHARGINGTIMECHANGE",
    "CHECKING",
    "CLICK",
    "CLOSE",
    "COMPLETE",
    "COMPOSITIONEND",
    "COMPOSITIONSTART",
    "COMPOSITIONUPDATE",
    "CONNECTING",
    "CONNECTIONSTATECHANGE",
    "CONNECT",
    "CONTEXTMENU",
    "CONTROLLERCHANGE",
    "COPY",
    "CUECHANGE",
    "CUT",
    "DATAAVAILABLE",
    "DATACHANNEL",
    "DBLCLICK",
    "DEVICECHANGE",
    "DEVICEMOTION",
    "DEVICEORIENTATION",
    "DISCHARGINGTIMECHANGE",
    "DISCONNECT",
    "DOMACTIVATE",
    "DOMCHARACTERDATAMODIFIED",
    "DOMCONTENTLOADED",
    "DOMFOCUSIN",
    "DOMFOCUSOUT",
    "DOMNODEINSERTEDINTODOCUMENT",
    "DOMNODEINSERTED",
    "DOMNODEREMOVEDFROMDOCUMENT",
    "DOMNODEREMOVED",
    "DOMSUBTREEMODIFIED",
    "DOWNLOADING",
    "DRAGEND",
    "DRAGENTER",
    "DRAGLEAVE",
    "DRAGOVER",
    "DRAGSTART",
    "DRAG",
    "DROP",
    "DURATIONCHANGE",
    "EMPTIED",
    "ENCRYPTED",
    "ENDED",
    "ENDEVENT",
    "END",
    "ENTERPICTUREINPICTURE",
    "ENTER",
    "ERROR",
    "EXIT",
    "FETCH",
    "FINISH",
    "FOCUSIN",
    "FOCUSOUT",
    "FOCUS",
    "FORMCHANGE",
    "FORMINPUT",
    "GAMEPADCONNECTED",
    "GAMEPADDISCONNECTED",
    "GESTURECHANGE",
    "GESTUREEND",
    "GESTURESCROLLEND",
    "GESTURESCROLLSTART",
    "GESTURESCROLLUPDATE",
    "GESTURESTART",
    "GESTURETAPDOWN",
    "GESTURETAP",
    "GOTPOINTERCAPTURE",
    "HASHCHANGE",
    "ICECANDIDATEERROR",
    "ICECANDIDATE",
    "ICECONNECTIONSTATECHANGE",
    "ICEGATHERINGSTATECHANGE",
    "INACTIVE",
    "INPUTSOURCESCHANGE",
    "INPUT",
    "INSTALL",
    "INVALID",
    "KEYDOWN",
    "KEYPRESS",
    "KEYSTATUSESCHANGE",
    "KEYUP",
    "LANGUAGECHANGE",
    "LEAVEPICTUREINPICTURE",
    "LEVELCHANGE",
    "LOADEDDATA",
    "LOADEDMETADATA",
    "LOADEND",
    "LOADINGDONE",
    "LOADINGERROR",
    "LOADING",
    "LOADSTART",
    "LOAD",
    "LOSTPOINTERCAPTURE",
    "MARK",
    "MERCHANTVALIDATION",
    "MESSAGEERROR",
    "MESSAGE",
    "MOUSEDOWN",
    "MOUSEENTER",
    "MOUSELEAVE",
    "MOUSEMOVE",
    "MOUSEOUT",
    "MOUSEOVER",
    "MOUSEUP",
    "MOUSEWHEEL",
    "MUTE",
    "NEGOTIATIONNEEDED",
    "NEXTTRACK",
    "NOMATCH",
    "NOUPDATE",
    "OBSOLETE",
    "OFFLINE",
    "ONLINE",
    "OPEN",
    "ORIENTATIONCHANGE",
    "OVERCONSTRAINED",
    "OVERFLOWCHANGED",
    "PAGEHIDE",
    "PAGESHOW",
    "PASTE",
    "PAUSE",
    "PAYERDETAILCHANGE",
    "PAYMENTAUTHORIZED",
    "PAYMENTMETHODCHANGE",
    "PAYMENTMETHODSELECTED",
    "PLAYING",
    "PLAY",
    "POINTERCANCEL",
    "POINTERDOWN",
    "POINTERENTER",
    "POINTERLEAVE",
    "POINTERLOCKCHANGE",
    "POINTERLOCKERROR",
    "POINTERMOVE",
    "POINTEROUT",
    "POINTEROVER",
    "POINTERUP",
    "POPSTATE",
    "PREVIOUSTRACK",
    "PROCESSORERROR",
    "PROGRESS",
    "PROPERTYCHANGE",
    "RATECHANGE",
    "READYSTATECHANGE",
    "REJECTIONHANDLED",
    "REMOVESOURCEBUFFER",
    "REMOVESTREAM",
    "REMOVETRACK",
    "REMOVE",
    "RESET",
    "RESIZE",
    "RESOURCETIMINGBUFFERFULL",
    "RESULT",
    "RESUME",
    "SCROLL",
    "SEARCH",
    "SECURITYPOLICYVIOLATION",
    "SEEKED",
    "SEEKING",
    "SELECTEND",
    "SELECTIONCHANGE",
    "SELECTSTART",
    "SELECT",
    "SHIPPINGADDRESSCHANGE",
    "SHIPPINGCONTACTSELECTED",
    "SHIPPINGMETHODSELECTED",
    "SHIPPINGOPTIONCHANGE",
    "SHOW",
    "SIGNALINGSTATECHANGE",
    "SLOTCHANGE",
    "SOUNDEND",
    "SOUNDSTART",
    "SOURCECLOSE",
    "SOURCEENDED",
    "SOURCEOPEN",
    "SPEECHEND",
    "SPEECHSTART",
    "SQUEEZEEND",
    "SQUEEZESTART",
    "SQUEEZE",
    "STALLED",
    "STARTED",
    "START",
    "STATECHANGE",
    "STOP",
    "STORAGE",
    "SUBMIT",
    "SUCCESS",
    "SUSPEND",
    "TEXTINPUT",
    "TIMEOUT",
    "TIMEUPDATE",
    "TOGGLE",
    "TONECHANGE",
    "TOUCHCANCEL",
    "TOUCHEND",
    "TOUCHFORCECHANGE",
    "TOUCHMOVE",
    "TOUCHSTART",
    "TRACK",
    "TRANSITIONCANCEL",
    "TRANSITIONEND",
    "TRANSITIONRUN",
    "TRANSITIONSTART",
    "UNCAPTUREDERROR",
    "UNHANDLEDREJECTION",
    "UNLOAD",
    "UNMUTE",
    "UPDATEEND",
    "UPDATEFOUND",
    "UPDATEREADY",
    "UPDATESTART",
    "UPDATE",
    "UPGRADENEEDED",
    "VALIDATEMERCHANT",
    "VERSIONCHANGE",
    "VISIBILITYCHANGE",
    "VOLUMECHANGE",
    "WAITINGFORKEY",
    "WAITING",
    "WEBGLCONTEXTCHANGED",
    "WEBGLCONTEXTCREATIONERROR",
    "WEBGLCONTEXTLOST",
    "WEBGLCONTEXTRESTORED",
    "WEBKITANIMATIONEND",
    "WEBKITANIMATIONITERATION",
    "WEBKITANIMATIONSTART",
    "WEBKITBEFORETEXTINSERTED",
    "WEBKITBEGINFULLSCREEN",
    "WEBKITCURRENTPLAYBACKTARGETISWIRELESSCHANGED",
    "WEBKITENDFULLSCREEN",
    "WEBKITFULLSCREENCHANGE",
    "WEBKITFULLSCREENERROR",
    "WEBKITKEYADDED",
    "WEBKITKEYERROR",
    "WEBKITKEYMESSAGE",
    "WEBKITMOUSEFORCECHANGED",
    "WEBKITMOUSEFORCEDOWN",
    "WEBKITMOUSEFORCEUP",
    "WEBKITMOUSEFORCEWILLBEGIN",
    "WEBKITNEEDKEY",
    "WEBKITNETWORKINFOCHANGE",
    "WEBKITPLAYBACKTARGETAVAILABILITYCHANGED",
    "WEBKITPRESENTATIONMODECHANGED",
    "WEBKITREGIONOVERSETCHANGE",
    "WEBKITREMOVESOURCEBUFFER",
    "WEBKITSOURCECLOSE",
    "WEBKITSOURCEENDED",
    "WEBKITSOURCEOPEN",
    "WEBKITSPEECHCHANGE",
    "WEBKITTRANSITIONEND",
    "WEBKITWILLREVEALBOTTOM",
    "WEBKITWILLREVEALLEFT",
    "WEBKITWILLREVEALRIGHT",
    "WEBKITWILLREVEALTOP",
    "WHEEL",
    "WRITEEND",
    "WRITESTART",
    "WRITE",
    "ZOOM",
];

/// Attributes that take a URL, a style, or are dangerous as such.
const ATTRIBUTES: &[(&str, Attr)] = &[
    ("ACTION", Attr::Url),
    ("ATTRIBUTENAME", Attr::Indirect),
    ("BY", Attr::Url),
    ("BACKGROUND", Attr::Url),
    ("DATAFORMATAS", Attr::Black),
    ("DATASRC", Attr::Black),
    ("DYNSRC", Attr::Url),
    ("FILTER", Attr::Style),
    ("FORMACTION", Attr::Url),
    ("FOLDER", Attr::Url),
    ("FROM", Attr::Url),
    ("HANDLER", Attr::Url),
    ("HREF", Attr::Url),
    ("LOWSRC", Attr::Url),
    ("POSTER", Attr::Url),
    ("SRC", Attr::Url),
    ("STYLE", Attr::Style),
    ("TO", Attr::Url),
    ("VALUES", Attr::Url),
    ("XLINK:HREF", Attr::Url),
];

const TAGS: &[&str] = &[
    "APPLET", "BASE", "COMMENT", "EMBED", "FRAME", "FRAMESET", "HANDLER", "IFRAME", "IMPORT",
    "ISINDEX", "LINK", "LISTENER", "META", "NOSCRIPT", "OBJECT", "SCRIPT", "STYLE", "VMLFRAME",
    "XML", "XSS",
];

/// `text` with its NULs left out, in upper case.
fn upper_without_nuls(text: &[u8]) -> Vec<u8> {
    text.iter()
        .filter(|&&b| b != 0)
        .map(u8::to_ascii_uppercase)
        .collect()
}

fn is_black_tag(name: &[u8]) -> bool {
    if name.len() < 3 {
        return false;
    }
    let upper = upper_without_nuls(name);
    TAGS.iter().any(|t| t.as_bytes() == upper.as_slice())
        || name
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"svg") || p.eq_ignore_ascii_case(b"xsl"))
}

/// An attribute name's danger. `after` is the input from the name on (an event name is
/// compared over its own length, which may run past the token, as libinjection does).
fn black_attr(name: &[u8], after: &[u8]) -> Attr {
    if name.len() < 2 {
        return Attr::None;
    }
    if name.len() >= 5 {
        if name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"on")) {
            let rest = after.get(2..).unwrap_or(&[]);
            if EVENTS
                .iter()
                .any(|e| starts_with_without_nuls(rest, e.as_bytes()))
            {
                return Attr::Black;
            }
        }
        let head = upper_without_nuls(name.get(..5).unwrap_or(name));
        if head == b"XMLNS" || head == b"XLINK" {
            return Attr::Black;
        }
    }
    let upper = upper_without_nuls(name);
    ATTRIBUTES
        .iter()
        .find(|(a, _)| a.as_bytes() == upper.as_slice())
        .map_or(Attr::None, |(_, kind)| *kind)
}

/// Whether the first `word.len()` bytes of `text`, NULs left out, are `word` (upper case).
fn starts_with_without_nuls(text: &[u8], word: &[u8]) -> bool {
    let Some(window) = text.get(..word.len()) else {
        return false;
    };
    upper_without_nuls(window) == word
}

/// One character of HTML-encoded text (`&#x3a;`, `&#58;`, or itself) and the bytes it took.
fn decode_char(s: &[u8]) -> (u32, usize) {
    let Some(&first) = s.first() else {
        return (0, 0);
    };
    if first != b'&' || s.len() < 2 {
        return (u32::from(first), 1);
    }
    if s.get(1) != Some(&b'#') {
        return (u32::from(b'&'), 1);
    }
    let hex = matches!(s.get(2), Some(b'x' | b'X'));
    let (radix, start) = if hex { (16, 3) } else { (10, 2) };
    let digit = |b: u8| char::from(b).to_digit(radix);
    let Some(mut value) = s.get(start).copied().and_then(digit) else {
        return (u32::from(b'&'), 1);
    };
    let mut i = start + 1;
    while let Some(&b) = s.get(i) {
        if b == b';' {
            return (value, i + 1);
        }
        let Some(d) = digit(b) else {
            return (value, i);
        };
        value = value * radix + d;
        if value > 0x1000FF {
            return (u32::from(b'&'), 1);
        }
        i += 1;
    }
    (value, i)
}

/// Whether HTML-encoded `s` starts with `prefix` (upper case), leading control characters and
/// any NULs and newlines ignored.
fn html_starts_with(prefix: &[u8], mut s: &[u8]) -> bool {
    let mut want = prefix.iter();
    let mut next = want.next();
    let mut first = true;
    while !s.is_empty() {
        let Some(&p) = next else {
            return true;
        };
        let (mut c, used) = decode_char(s);
        s = s.get(used.max(1)..).unwrap_or(&[]);
        if first && c <= 32 {
            continue;
        }
        first = false;
        if c == 0 || c == 10 {
            continue;
        }
        if (u32::from(b'a')..=u32::from(b'z')).contains(&c) {
            c -= 0x20;
        }
        // Compared as C compares a char with an int cast to char: the low byte.
        if u32::from(p) != (c & 0xff) {
            return false;
        }
        next = want.next();
    }
    next.is_none()
}

fn is_black_url(mut s: &[u8]) -> bool {
    while let Some(&b) = s.first() {
        if b <= 32 || b >= 127 {
            s = s.get(1..).unwrap_or(&[]);
        } else {
            break;
        }
    }
    [&b"DATA"[..], b"VIEW-SOURCE", b"JAVA", b"VBSCRIPT"]
        .iter()
        .any(|p| html_starts_with(p, s))
}

fn is_xss_from(input: &[u8], start: Start) -> bool {
    let mut tk = Tokenizer::new(input, start);
    let mut attr = Attr::None;
    while let Some(t) = tk.next() {
        let text = input.get(t.start..t.start + t.len).unwrap_or(&[]);
        if t.kind != Kind::AttrValue {
            attr = Attr::None;
        }
        match t.kind {
            Kind::Doctype => return true,
            Kind::TagNameOpen if is_black_tag(text) => return true,
            Kind::AttrName => attr = black_attr(text, input.get(t.start..).unwrap_or(&[])),
            Kind::AttrValue => {
                match attr {
                    Attr::Black | Attr::Style => return true,
                    Attr::Url if is_black_url(text) => return true,
                    Attr::Indirect
                        if black_attr(text, input.get(t.start..).unwrap_or(&[])) != Attr::None =>
                    {
                        return true
                    }
                    _ => {}
                }
                attr = Attr::None;
            }
            Kind::TagComment => {
                if text.contains(&b'`') {
                    return true;
                }
                if text.len() > 3 {
                    let head = text.get(..3).unwrap_or(&[]);
                    if (head.first() == Some(&b'[')
                        && head
                            .get(1..3)
                            .is_some_and(|h| h.eq_ignore_ascii_case(b"if")))
                        || head.eq_ignore_ascii_case(b"xml")
                    {
                        return true;
                    }
                }
                if text.len() > 5 {
                    let head = upper_without_nuls(text.get(..6).unwrap_or(&[]));
                    if head == b"IMPORT" || head == b"ENTITY" {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// Whether `input` is XSS from any of the places it may be pasted.
pub fn detect_xss(input: &[u8]) -> bool {
    [
        Start::Data,
        Start::ValueNoQuote,
        Start::ValueSingleQuote,
        Start::ValueDoubleQuote,
        Start::ValueBackQuote,
    ]
    .into_iter()
    .any(|start| is_xss_from(input, start))
}
