"""What chat says when something happens: emote names and reaction tokens.

Used by the chat signal to classify each message. Names are matched case-insensitively on whole
tokens, except multi-word phrases ("clip it") and punctuation bursts ("???", "!!!"), which are
matched on the whole message. Besides *whether* a message reacts, ``classify_kinds`` says *how*:
laughter, hype (excitement: Pog, wow, insane, "clip it"), shock (fear, sadness, disgust: monkaS,
WutFace, rip) or a gaming verdict (gg, ez, throw, outplayed) — kinds every Twitch gaming chat
shares; which of them mark the moments a community clips is what the ranker learns. Emote names are
Twitch global emotes plus the most common BTTV/FFZ/7TV reaction emotes; explicit emotes from the log
(e.g. TwitchDownloader fragments) count too.
"""

from __future__ import annotations

import re
from operator import ne

LAUGH = frozenset("""
kekw kek lul lulw omegalul lol lmao lmfao rofl haha hahaha ahaha xd xdd 4head ezy pepelaugh
elegiggle lolw kekwait icant forsenlul pepega lulwut kappa lulwat 😂 🤣
""".split())

HYPE = frozenset("""
pog pogu pogchamp poggers poggies pogger pogo pogsire wow omg wtf holy insane sheesh clip clipit
kreygasm pagchomp pagman pogw letsgo hype hyped huge massive nuts crazy wowee
swiftrage curselit popcat gachihyper catjam pepedance ratjam 🔥 😱 😮 🤯 🐐
""".split())

SHOCK = frozenset("""
monkas monkaw monkagiga wutface dansgame notlikethis omegaroll d: pepehands widepeepohappy
biblethump sadge f rip nooo noooo noo bruh cmonbruh residentsleeper failfish babyrage
""".split())

GAMING = frozenset("""
ez ezclap gg ggwp clap claps jebaited worth throw throwing int inting outplayed clutch ace penta rampage
""".split())

REACTIONS = LAUGH | HYPE | SHOCK | GAMING

PREFIXES = ("pog", "lul", "kek", "pag", "monka", "omegalul", "hahaha", "lmao", "wtf", "omg", "noo", "clip")
"""Token stems that react whatever follows them (PogChamp, LULW, KEKWait, monkaGIGA, ...)."""

EMOTES = frozenset(token.lower() for token in """
Kappa KappaPride Keepo LUL PogChamp Kreygasm BibleThump ResidentSleeper WutFace NotLikeThis SeemsGood
TriHard cmonBruh DansGame SwiftRage HeyGuys BabyRage FailFish Jebaited CoolStoryBob EleGiggle 4Head
CurseLit PJSalt VoHiYo TheIlluminati PogBones DarkMode BloodTrail PunOko KomodoHype MingLee
SMOrc OpieOP StinkyCheese LUL CoolCat GivePLZ TakeNRG NotATK PopCorn HolidayOrnament TwitchUnity
KEKW OMEGALUL LULW Pog PogU POGGERS PepeLaugh Sadge monkaS monkaW pepeD catJAM 5Head 3Head haHAA
widepeepoHappy PepeHands FeelsBadMan FeelsGoodMan FeelsStrongMan WeirdChamp PagChomp PagMan EZ Clap
Pepega forsenE gachiGASM gachiHYPER ratJAM PepoDance peepoClap COPIUM Copege Aware Stare Kapp
""".split())

_TOKEN = re.compile(r"[\w:]+|[^\w\s]", re.UNICODE)
_PHRASES = ("clip it", "clip that", "let's go", "lets go", "oh my god", "no way", "what the")
_PUNCT_BURST = re.compile(r"\?{2,}|!{2,}|\?!|!\?")
_PREFIX_AT_TOKEN = re.compile(r"(?<![\w:])(?:" + "|".join(map(re.escape, PREFIXES)) + ")")
r"""A token starting with one of ``PREFIXES`` (tokens are runs of ``[\w:]``), found in one C-level scan."""
_PHRASE = re.compile("|".join(map(re.escape, _PHRASES)))
_HYPE_PREFIXES = ("pog", "pag", "wtf", "omg", "clip")
_SHOCK_PREFIXES = ("monka", "noo")
_LAUGH_RUN = re.compile(r"(?:ha){3,}|(?:he){3,}|a?jaja(?:ja)+|x+d+\b|k{4,}", re.IGNORECASE)


def tokens(text: str) -> list[str]:
    """Lower-cased tokens of a message."""
    return _TOKEN.findall(text.lower())


def classify(text: str, explicit_emotes: tuple[str, ...] = ()) -> tuple[bool, bool, int, bool]:
    """``(is_reaction, is_laugh, emote_count, is_caps_burst)`` for one message."""
    return classify_kinds(text, explicit_emotes)[:4]  # type: ignore[return-value]


def classify_kinds(text: str, explicit_emotes: tuple[str, ...] = ()
                   ) -> tuple[bool, bool, int, bool, bool, bool, bool]:
    """``classify`` plus the kind of reaction: ``(..., is_hype, is_shock, is_gaming)``."""
    toks = tokens(text)
    token_set = set(toks)
    laugh = bool(token_set & LAUGH) or bool(_LAUGH_RUN.search(text))
    low = text.lower()
    phrase = bool(_PHRASE.search(low))
    prefixed = bool(_PREFIX_AT_TOKEN.search(low))
    hype = bool(token_set & HYPE) or phrase or (prefixed and any(t.startswith(_HYPE_PREFIXES) for t in token_set))
    shock = bool(token_set & SHOCK) or (prefixed and any(t.startswith(_SHOCK_PREFIXES) for t in token_set))
    gaming = bool(token_set & GAMING)
    reaction = (laugh or hype or shock or gaming or bool(token_set & REACTIONS) or bool(_PUNCT_BURST.search(text))
                or prefixed)
    if explicit_emotes:
        explicit = {e.lower() for e in explicit_emotes}
        emotes = sum(1 for t in toks if t in EMOTES or t in explicit)
    else:
        emotes = len([t for t in toks if t in EMOTES])
    caps = False
    if len(text) >= 4:
        # Cased letters are where lower and upper case differ; capitals where the text differs from its
        # lower case (map/operator keep the per-character work in C).
        upper = text.upper()
        cased = sum(map(ne, low, upper))
        caps = cased >= 4 and sum(map(ne, text, low)) >= 0.8 * cased
    return reaction, laugh, emotes, caps, hype, shock, gaming
