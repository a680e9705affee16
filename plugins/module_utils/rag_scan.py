# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""Scan documents for indirect prompt injection before a RAG pipeline ingests them.

Shared by the rag_document_scan module and the rag_ingest_guard role's inbox
service. Text rules are data (rag_rules.py, plus users' YAML); this file reads
the formats, uncovers what a human reader does not see (hidden HTML, comments,
invisible and bidi characters, Unicode tag smuggling, encoded blocks), folds
look-alike spellings, and weighs each match by where it stands: an example
quoted in an article about prompt injection is not an attack.
"""

from __future__ import annotations

import base64
import binascii
import html
import os
import re
import shutil
import unicodedata
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

try:
    from ansible_collections.llmsec.hardening.plugins.module_utils.rag_rules import DEFAULT_RULES
except ImportError:  # installed beside the rag_ingest_guard service
    from rag_rules import DEFAULT_RULES

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

SEVERITIES = ("info", "low", "medium", "high")
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ".csv", ".json", ".log"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SNIPPET = 120

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad"
BIDI_OVERRIDES = "\u202d\u202e"
BIDI_OTHER = "\u202a\u202b\u202c\u2066\u2067\u2068\u2069"
TAG_RANGE = (0xE0000, 0xE007F)
# Letters that look like ASCII ones (Unicode confusables, the ones attackers use).
CONFUSABLES = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ո": "n", "ս": "u", "ν": "v", "ο": "o",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ɑ": "a", "ı": "i",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I",
    "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ℓ": "l",
}
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
# Words of a text that discusses injection rather than performs it ("a classic payload is ...").
DISCUSSION = re.compile(
    r"(\be\.g\.|\bi\.e\.|\b(example|examples|such as|for instance|phrase|phrases|payload|payloads|attack|attacks|"
    r"attacker|attackers|adversar\w*|injection|injections|injected|jailbreak\w*|red[- ]team\w*|honeypot|"
    r"guardrail\w*|tests?(?! set)|testing|test cases?|dataset|strings?|planted|inserted|control tokens?|"
    r"chat templates?)\b)", re.I)
URL = re.compile(r"\b(https?://|www\.)\S+|\b[\w.+-]+@[\w-]+(\.[\w-]+)+|\b[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,6}\b(/\S*)?")
HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*(0|0?\.\d+|[01])(px|pt|em|rem|%)?\s*(;|$)|"
    r"opacity\s*:\s*0(\.0+)?\s*(;|$)|color\s*:\s*(#fff\b|#ffffff\b|white\b|rgba?\(\s*255\s*,\s*255\s*,\s*255)|"
    r"(left|top|text-indent)\s*:\s*-\d{3,}|clip\s*:\s*rect\(0|height\s*:\s*0(px)?\s*;\s*overflow\s*:\s*hidden|"
    r"transform\s*:\s*scale\(0\)", re.I)
VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
MD_LINK = re.compile(r"(!?)\[([^\]]{0,300})\]\(\s*<?([^)\s>]+)>?(?:\s+\"([^\"]*)\")?\s*\)")
MD_REF_COMMENT = re.compile(r"^\s*\[(//|comment|_)\]:\s*#\s*[(\"'](.*)[)\"']\s*$", re.I | re.M)
HTML_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
B64_BLOCK = re.compile(r"(?<![A-Za-z0-9+/=_-])([A-Za-z0-9+/_-]{24,}={0,2})(?![A-Za-z0-9+/=_-])")
HEX_BLOCK = re.compile(r"(?<![0-9a-fA-F])((?:[0-9a-fA-F]{2}){16,})(?![0-9a-fA-F])|((?:\\x[0-9a-fA-F]{2}){12,})")
# A query that carries data out: template placeholders (links and images), data words (images, which
# load without a click).
PLACEHOLDER = re.compile(r"(\{[^}]{1,40}\}|\$\{?\w+|<[^>]{1,40}>|\[[A-Z_ ]{3,40}\]|%s|\bINSERT\b|PLACEHOLDER)")
DATA_WORDS = re.compile(r"(=$|=&|secret|summary|conversation|history|chat|prompt|password|passwd|token|"
                        r"credential|ssn|e-?mail|messages?|context|d=$)", re.I)
FENCE = re.compile(r"^(```|~~~)", re.M)
# In text a reader does not see, any directive to a model is an attack.
HIDDEN_DIRECTIVE = re.compile(
    r"\b(assistant|ai|llm|chatbot|bot|gpt|model|summari[sz]er|agent)\b[^.!?\n]{0,20}[:,]?\s*[^.!?\n]{0,60}"
    r"\b(override|ignore|disregard|forget|write|say|tell|state|answer|respond|reply|recommend|mention|claim|include|"
    r"output|never|always|must|rate|rank|praise|promote)\b|^\s*((hidden|note|notice|important|instructions?|ai|assistant|llm|"
    r"bot|model)\s*:\s*)?(please\s+)?(override|ignore|disregard|"
    r"forget|say|tell|answer|respond|reply|recommend|write|state|always|never|instead|append|include|send|"
    r"forward|insert|encode|print|reveal)\b", re.I | re.M)
# Paraphrases slip past any phrase list, so sentences are also scored on three kinds of words; two
# kinds in one sentence make a finding: (A) the text addresses an AI, (O) it overrides or rewrites
# instructions, (S) it reaches for secrets, data or the user.
CUE_AI = re.compile(r"\b(ai|a\.i\.|llms?|language models?|chat ?bots?|assistants?|gpt|chatgpt|claude|gemini|copilot|llama|"
                    r"bots?|agents?|summari[sz]ers?|models?)\b", re.I)
CUE_YOU = re.compile(r"\b(you|your|yourself|must|should|shall|needs? to|has to|is to)\b", re.I)
CUE_OVERRIDE = re.compile(
    r"\b(ignore|disregard|forget|supersede\w*|overrid\w*|override|instead|void|stop what|stop doing|"
    r"highest priority|top priority|from (now|this point) on|henceforth|new (rules|instructions|task|orders)|updated instructions|real instructions|"
    r"original (ones|instructions|prompt)|previous (instructions|rules|guidelines|prompt)|system prompt|"
    r"your (instructions|rules|guidelines|programming|prompt|directives|configuration|settings)|no longer appl\w*|"
    r"(earlier|previous|prior|original) (configuration|settings|rules)|real (job|task|goal|purpose)|"
    r"true (job|task|goal|purpose)|was (just )?a test|quietly|secretly|keep (this|it)( note| message)? secret|"
    r"without (them|the user|anyone) (knowing|noticing))\b", re.I)
CUE_SENSITIVE = re.compile(
    r"(\b(passwords?|api[ _-]?keys?|secrets?|credentials?|access tokens?|salar(y|ies)|confidential|ssn|credit card|"
    r"bank details|iban|home address|every document|all (the )?documents|retrieved|context window|"
    r"conversation history|chat history|tell the user|ask (the user|them|him|her) for|do not tell|don't tell|"
    r"without telling|access denied|session (has )?expired|email address(es)?|context window|"
    r"tell (every|each|all|the) (customers?|users?|visitors?|readers?|people|person)|the person you are helping|"
    r"in (every|each|all) (reply|replies|answer|answers|response|responses))\b|https?://|www\.)", re.I)
SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
HIDDEN_MODEL_WORDS = re.compile(r"\b(assistant|ai|llm|model|chatbot|gpt|answer\w*|respond\w*|repl(y|ies)|recommend|"
                                r"mention|always|never|must|instructions?|ignore|summar\w+|instead|password)\b", re.I)


class ScanError(Exception):
    pass


class Rule:
    __slots__ = ("id", "severity", "rationale", "regex")

    def __init__(self, spec, where):
        for key in ("id", "severity", "pattern"):
            if not spec.get(key):
                raise ScanError("%s: rule %r has no %s" % (where, spec.get("id", "?"), key))
        if spec["severity"] not in SEVERITIES[1:]:
            raise ScanError("%s: rule %s: severity must be high, medium or low" % (where, spec["id"]))
        pattern = "".join(line.strip() for line in str(spec["pattern"]).splitlines())
        try:
            self.regex = re.compile(pattern, re.I | re.M)
        except re.error as exc:
            raise ScanError("%s: rule %s: bad pattern: %s" % (where, spec["id"], exc))
        self.id = str(spec["id"])
        self.severity = spec["severity"]
        self.rationale = spec.get("rationale", "")


def load_rules(extra_path=None):
    """The default rules plus a user's YAML file of the same shape (same id replaces)."""
    if not HAS_YAML:
        raise ScanError("rag_document_scan needs PyYAML (python3-yaml) to read its rules")
    specs = yaml.safe_load(DEFAULT_RULES)
    rules = dict((spec["id"], Rule(spec, "default rules")) for spec in specs)
    if extra_path:
        try:
            with open(extra_path, encoding="utf-8") as handle:
                extra = yaml.safe_load(handle) or []
        except (OSError, yaml.YAMLError) as exc:
            raise ScanError("rules %s: %s" % (extra_path, exc))
        if not isinstance(extra, list):
            raise ScanError("rules %s: must be a list of rules" % extra_path)
        for spec in extra:
            if not isinstance(spec, dict):
                raise ScanError("rules %s: each rule must be a mapping" % extra_path)
            rules[str(spec.get("id"))] = Rule(spec, "rules " + extra_path)
    return list(rules.values())


# --------------------------------------------------------------------------
# Text preparation
# --------------------------------------------------------------------------

def fold(text):
    """NFKC, confusable letters to ASCII, invisible characters and combining marks removed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(CONFUSABLES.get(ch, ch) for ch in text)
    text = "".join(ch for ch in text if ch not in ZERO_WIDTH and ch not in BIDI_OVERRIDES + BIDI_OTHER
                   and not (TAG_RANGE[0] <= ord(ch) <= TAG_RANGE[1]))
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def despace(text):
    """Join letters spread out to dodge filters: 'i.g.n.o.r.e', 'i-g-n-o-r-e', 'i g n o r e  a l l'
    (single spaces inside a word, two between words)."""
    text = re.sub(r"\b(?:[A-Za-z][.\-_*]){2,}[A-Za-z]\b", lambda match: re.sub(r"[.\-_*]", "", match.group(0)), text)
    return re.sub(r"\b(?:[A-Za-z] ){3,}[A-Za-z]\b", lambda match: match.group(0).replace(" ", ""), text)


def snippet(text, start, end):
    left = max(0, start - 20)
    piece = re.sub(r"\s+", " ", text[left:max(end, left + 1)])
    piece = "".join(ch if ch.isprintable() else "\ufffd" for ch in piece).strip()
    return piece[:SNIPPET]


class HtmlText(HTMLParser):
    """Visible text, hidden text (by style, attribute or element), attribute text (alt, title, aria-label)."""

    HIDING_TAGS = {"script", "style", "template", "noscript", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.visible, self.hidden, self.attributes = [], [], []
        self.stack = []

    def _hidden(self):
        return any(hidden for _tag, hidden in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict((name.lower(), value or "") for name, value in attrs)
        for name in ("alt", "title", "aria-label", "data-prompt", "data-instructions", "content"):
            if attrs.get(name) and (name != "content" or tag == "meta"):
                self.attributes.append(attrs[name])
        hidden = ("hidden" in attrs or attrs.get("aria-hidden") == "true" and tag not in ("svg", "i")
                  or bool(HIDDEN_STYLE.search(attrs.get("style", ""))) or tag in self.HIDING_TAGS)
        if tag not in VOID_TAGS:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] in ("script", "style"):
            return
        (self.hidden if self._hidden() else self.visible).append(data)


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def read_document(path):
    """(kind, text) of a file; raises Skip with the reason when it cannot be read."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".pdf":
        try:
            import pypdf  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise Skip("needs pypdf")
        try:
            reader = pypdf.PdfReader(path)
            return "pdf", "\n".join(page.extract_text() or "" for page in reader.pages)
        except Exception as exc:  # pylint: disable=broad-except
            raise Skip("unreadable PDF: %s" % exc)
    if suffix == ".docx":
        try:
            import docx  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise Skip("needs python-docx")
        try:
            document = docx.Document(path)
            return "docx", "\n".join(paragraph.text for paragraph in document.paragraphs)
        except Exception as exc:  # pylint: disable=broad-except
            raise Skip("unreadable DOCX: %s" % exc)
    if suffix not in TEXT_SUFFIXES | HTML_SUFFIXES:
        raise Skip("unsupported type %s" % (suffix or "(no suffix)"))
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return ("html" if suffix in HTML_SUFFIXES else "markdown" if suffix in (".md", ".markdown") else "text"), text


class Skip(Exception):
    pass


# --------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------

def _regions(text):
    """Spans of fenced code (weight 2), and of inline code, quotations and indented code (weight 1)."""
    spans = []
    fences = [match.start() for match in FENCE.finditer(text)]
    for start, end in zip(fences[::2], fences[1::2]):
        spans.append((start, end, 2))
    for match in re.finditer(r"`[^`\n]+`|\"[^\"\n]{3,400}\"|\u201c[^\u201d\n]{3,400}\u201d|'[^'\n]{8,400}'|\u00ab[^\u00bb\n]{3,400}\u00bb", text):
        spans.append((match.start(), match.end(), 1))
    for match in re.finditer(r"^\s*>.*$", text, re.M):
        spans.append((match.start(), match.end(), 1))
    for match in re.finditer(r"^( {4}|\t).*$", text, re.M):
        spans.append((match.start(), match.end(), 1))
    return spans


def _sentence(text, start, end):
    """(context, lead): the paragraph of the match and the one before it (where "for example:" or a
    heading stands), and the text between the start of the match's sentence or line and the match."""
    paragraph = text.rfind("\n\n", 0, start)
    before = text.rfind("\n\n", 0, max(paragraph, 0))
    after = text.find("\n\n", end)
    context = text[max(before, 0):after if after >= 0 else len(text)]
    left = max(max(text.rfind(mark, 0, start) + len(mark) - 1 for mark in (". ", "! ", "? ", "\n")), 0)
    return context, text[left:start]


def _lower(severity, steps):
    return SEVERITIES[max(0, SEVERITIES.index(severity) - steps)]


def _weigh(text, start, end, severity, regions):
    """Lower the severity of a match that is quoted, in code, or discussed rather than addressed."""
    quoted = max([weight for a, b, weight in regions if a <= start and end <= b] or [0])
    context, lead = _sentence(text, start, end)
    discussed = bool(DISCUSSION.search(URL.sub(" ", context)))
    lead = lead.strip().strip("*_-#>•").strip()
    imperative = lead == "" or lead.endswith(":") and len(lead) < 40 and not discussed
    steps = quoted
    # Reported speech: "I told my kids to ignore the previous rules" speaks of a third party.
    if re.search(r"\b(told|asked|tell|ask|instructed|wanted|want|let|made|make|taught|reminded)\s+(my|his|her|their|our|"
                 r"the|a|some|all)\s+(\w+\s+){0,2}to\s*$", lead, re.I) and not CUE_AI.search(lead):
        steps += 2
    if discussed:
        steps += 1 if imperative and not quoted else 2
    return _lower(severity, steps)


def scan_text(text, rules, channel="text", base_offset=0, weigh=True):
    """Rule matches in text as findings (offset relative to the document when base_offset is given)."""
    found = []
    folded = fold(text)
    variants = [(folded, None)]
    if folded != unicodedata.normalize("NFKC", text):
        variants[0] = (folded, "homoglyph")
    spaced = despace(folded)
    if spaced != folded:
        variants.append((spaced, "spacing"))
    leet = folded.translate(LEET)
    if leet != folded:
        variants.append((leet, "leetspeak"))
    # Dots in addresses end a sentence for the rules' [^.]; the same text with each address as one word.
    unlinked = URL.sub(" URL ", folded)
    if unlinked != folded:
        variants.append((unlinked, "unlinked"))
    seen = set()
    for variant, obfuscation in variants:
        regions = _regions(variant) if weigh else []
        for rule in rules:
            for match in rule.regex.finditer(variant):
                key = (rule.id, match.start() // 40 if obfuscation is None else -1)
                if key in seen:
                    continue
                severity = rule.severity
                rule_id = rule.id
                if obfuscation == "homoglyph" and not rule.regex.search(unicodedata.normalize("NFKC", text)):
                    rule_id = "obfuscation-homoglyph:" + rule.id
                    severity = "high"
                elif obfuscation == "unlinked" and any(f["rule"] == rule.id for f in found):
                    continue
                elif obfuscation in ("spacing", "leetspeak"):
                    if rule.regex.search(folded):
                        continue
                    rule_id = "obfuscation-%s:%s" % (obfuscation, rule.id)
                    severity = "high"
                elif weigh:  # plain and unlinked text: weighed on the variant's own quotes and code
                    severity = _weigh(variant, match.start(), match.end(), severity, regions)
                seen.add(key)
                found.append({"rule": rule_id, "severity": severity, "channel": channel,
                              "offset": base_offset + match.start(),
                              "snippet": snippet(variant, match.start(), match.end()),
                              "rationale": rule.rationale, "span": (match.start(), match.end())})
    if weigh:
        folded = URL.sub(" URL ", folded)
        regions = _regions(folded)
        for match in SENTENCE.finditer(folded):
            sentence = match.group(0)
            kinds = []
            if CUE_AI.search(sentence) and CUE_YOU.search(sentence):
                kinds.append("ai")
            if CUE_OVERRIDE.search(sentence):
                kinds.append("override")
            if CUE_SENSITIVE.search(URL.sub(" https:// ", sentence) if "ai" in kinds else sentence):
                kinds.append("sensitive")
            if len(kinds) < 2 or any(f["offset"] - base_offset >= match.start() and f["offset"] - base_offset < match.end()
                                     and SEVERITIES.index(f["severity"]) >= 2 for f in found):
                continue
            start = match.start() + len(sentence) - len(sentence.lstrip())
            # Quoted cues, in a text that discusses injection, are examples.
            cue = CUE_OVERRIDE.search(sentence) or CUE_AI.search(sentence)
            cue_at = match.start() + cue.start()
            quoted = max([weight for a, b, weight in regions if a <= cue_at < b] or [0])
            context = _sentence(folded, start, match.end())[0]
            # Three kinds at once is an attack whatever the context says.
            steps = quoted + (2 if len(kinds) < 3 and DISCUSSION.search(URL.sub(" ", context)) else 0)
            found.append({"rule": "cues-" + "+".join(kinds), "channel": channel, "offset": base_offset + start,
                          "severity": _lower("high", steps),
                          "snippet": snippet(folded, start, match.end()), "span": (start, match.end()),
                          "rationale": "One sentence that %s." % " and ".join(
                              {"ai": "addresses an AI", "override": "overrides its instructions",
                               "sensitive": "reaches for secrets, data or the user"}[kind] for kind in kinds)})
    return found


def _line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def _decode_candidates(text):
    """Text hidden in base64, hex or percent-encoding blocks: [(offset, decoded)]."""
    out = []
    for match in B64_BLOCK.finditer(text):
        block = match.group(1)
        if block.isdigit() or block.isalpha() and not re.search(r"[A-Z].*[a-z]|[a-z].*[A-Z]", block):
            continue
        try:
            data = base64.b64decode(block + "=" * (-len(block) % 4), altchars=b"-_" if "-" in block or "_" in block
                                    else None)
        except (binascii.Error, ValueError):
            continue
        out.append((match.start(), data))
    for match in HEX_BLOCK.finditer(text):
        block = match.group(1) or match.group(2).replace("\\x", "")
        try:
            out.append((match.start(), binascii.unhexlify(block)))
        except (binascii.Error, ValueError):
            continue
    for match in re.finditer(r"(?:%[0-9A-Fa-f]{2}[^\s%]{0,3}){8,}", text):
        out.append((match.start(), unquote(match.group(0)).encode("utf-8", "replace")))
    decoded = []
    for offset, data in out:
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        printable = sum(1 for ch in value if ch.isprintable() or ch in "\n\t")
        if len(value) >= 12 and printable >= 0.95 * len(value) and sum(ch.isalpha() for ch in value) > len(value) / 2:
            decoded.append((offset, value))
    return decoded


def _tag_smuggled(text):
    chars = [chr(ord(ch) - TAG_RANGE[0]) for ch in text if TAG_RANGE[0] + 0x20 <= ord(ch) <= TAG_RANGE[0] + 0x7E]
    return "".join(chars)


def _external(url):
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def scan_document(text, kind, rules):
    """Findings of one document's text (kind: text, markdown, html, pdf, docx)."""
    findings = []

    def add(rule, severity, offset, piece, rationale, channel):
        findings.append({"rule": rule, "severity": severity, "channel": channel, "offset": offset,
                         "snippet": snippet(piece, 0, len(piece)), "rationale": rationale, "span": None})

    visible = text
    hidden_parts = []
    if kind == "html":
        parser = HtmlText()
        try:
            parser.feed(text)
            parser.close()
        except Exception:  # pylint: disable=broad-except
            pass
        visible = html.unescape("".join(parser.visible))
        hidden_parts += [("hidden-element", part) for part in parser.hidden if part.strip()]
        hidden_parts += [("attribute", part) for part in parser.attributes if part.strip()]
    for match in HTML_COMMENT.finditer(text):
        hidden_parts.append(("comment", match.group(1)))
    if kind in ("markdown", "text"):
        for match in MD_REF_COMMENT.finditer(text):
            hidden_parts.append(("comment", match.group(2)))
        visible = HTML_COMMENT.sub(" ", visible)
        # Markdown image alt text and link titles are read by models, seldom by people.
        for match in MD_LINK.finditer(text):
            if match.group(1) and match.group(2).strip():
                hidden_parts.append(("attribute", match.group(2)))
            if match.group(4):
                hidden_parts.append(("attribute", match.group(4)))

    findings += scan_text(visible, rules, "text")

    for channel, part in hidden_parts:
        part = html.unescape(part)
        hits = scan_text(part, rules, channel, weigh=False)
        for finding in hits:
            finding["rule"] = "hidden-%s:%s" % (channel, finding["rule"])
            finding["severity"] = "high"
            finding["offset"] = max(0, text.find(part[:40]))
            findings.append(finding)
        directive = HIDDEN_DIRECTIVE.search(fold(part))
        if not hits and directive and channel != "attribute":
            add("hidden-%s:directive" % channel, "high", max(0, text.find(part[:40])), part,
                "Hidden text that directs a model.", channel)
    hidden_text = " ".join(part for channel, part in hidden_parts if channel == "hidden-element")
    if len(hidden_text.strip()) > 40 and not any(f["rule"].startswith("hidden-hidden-element") for f in findings):
        add("hidden-element-text", "medium" if HIDDEN_MODEL_WORDS.search(hidden_text) else "low", 0,
            hidden_text.strip(), "Text a browser does not show.", "hidden-element")

    # Invisible and direction-changing characters.
    smuggled = _tag_smuggled(text)
    if smuggled:
        offset = next(i for i, ch in enumerate(text) if TAG_RANGE[0] <= ord(ch) <= TAG_RANGE[1])
        add("hidden-unicode-tags", "high", offset, smuggled,
            "Unicode tag characters carry invisible ASCII (ASCII smuggling).", "unicode-tags")
    invisible = [i for i, ch in enumerate(text) if ch in ZERO_WIDTH and not (ch == "\ufeff" and i == 0)
                 and not (ch == "\u200d" and _emoji_joiner(text, i)) and not (ch == "\u00ad")]
    if invisible:
        add("hidden-zero-width", "medium" if len(invisible) >= 3 else "low", invisible[0],
            text[max(0, invisible[0] - 30):invisible[0] + 60],
            "%d zero-width characters: hidden separators or smuggled text." % len(invisible), "zero-width")
    overrides = [i for i, ch in enumerate(text) if ch in BIDI_OVERRIDES]
    if overrides:
        add("hidden-bidi-override", "high", overrides[0], text[max(0, overrides[0] - 30):overrides[0] + 60],
            "Bidi override characters make the shown order differ from the read order (Trojan Source).", "bidi")

    # Exfiltration lures: links and images that carry data to another host.
    for match in MD_LINK.finditer(text):
        url = match.group(3)
        query = unquote(urlsplit(url).query) if _external(url) else ""
        if query and (PLACEHOLDER.search(query) or match.group(1) and DATA_WORDS.search(query)):
            add("exfil-markdown-%s" % ("image" if match.group(1) else "link"),
                "high" if match.group(1) else "medium", match.start(), match.group(0),
                "An external %s whose query carries data or placeholders for it." % (
                    "image (fetched without a click)" if match.group(1) else "link"), "markdown")
    if kind == "html":
        for match in re.finditer(r"<img\b[^>]*\bsrc\s*=\s*[\"']?([^\"'\s>]+)", text, re.I):
            url = html.unescape(match.group(1))
            query = unquote(urlsplit(url).query) if _external(url) else ""
            if query and (PLACEHOLDER.search(query) or DATA_WORDS.search(query)):
                add("exfil-html-image", "high", match.start(), match.group(0),
                    "An external image whose query carries data or placeholders for it.", "html")

    # Encoded payloads that decode to instructions.
    for offset, decoded in _decode_candidates(fold(text)):
        hits = scan_text(decoded, rules, "encoded", weigh=False)
        if hits:
            add("encoded-instructions:" + hits[0]["rule"], "high", offset, decoded,
                "An encoded block (base64, hex or percent-encoding) that decodes to instructions.", "encoded")
    for finding in findings:
        finding.pop("span", None)
    return findings


def _emoji_joiner(text, index):
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    return any(ord(ch) >= 0x2190 and not ("\u200b" <= ch <= "\u206f") for ch in (before, after) if ch)


def flagged(findings, fail_on):
    floor = SEVERITIES.index(fail_on)
    return [finding for finding in findings if SEVERITIES.index(finding["severity"]) >= floor]


# --------------------------------------------------------------------------
# Files and actions
# --------------------------------------------------------------------------

def expand(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(name for name in dirs if not name.startswith("."))
                files.extend(os.path.join(root, name) for name in sorted(names) if not name.startswith("."))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise ScanError("%s does not exist" % path)
    return files


def scan_paths(paths, rules, fail_on="medium"):
    """Returns {findings, scanned, flagged, skipped, documents: {path: findings}}."""
    result = {"findings": [], "scanned": 0, "flagged": [], "skipped": [], "documents": {}}
    for path in expand(paths):
        try:
            kind, text = read_document(path)
        except Skip as skip:
            result["skipped"].append({"path": path, "reason": "skipped: %s" % skip})
            continue
        except OSError as exc:
            result["skipped"].append({"path": path, "reason": "skipped: %s" % exc.strerror})
            continue
        findings = scan_document(text, kind, rules)
        for finding in findings:
            finding["file"] = path
            finding["line"] = _line_of(text, finding["offset"])
        result["scanned"] += 1
        result["findings"].extend(findings)
        result["documents"][path] = findings
        if flagged(findings, fail_on):
            result["flagged"].append(path)
    return result


def sanitize(text, kind, findings, fail_on):
    """A cleaned copy: hidden text and flagged spans removed (HTML: the visible text only)."""
    if kind == "html":
        parser = HtmlText()
        parser.feed(text)
        text = html.unescape("".join(parser.visible))
    text = HTML_COMMENT.sub("", text)
    text = MD_REF_COMMENT.sub("", text)
    text = "".join(ch for ch in text if ch not in ZERO_WIDTH + BIDI_OVERRIDES + BIDI_OTHER
                   and not TAG_RANGE[0] <= ord(ch) <= TAG_RANGE[1])
    text = unicodedata.normalize("NFKC", "".join(CONFUSABLES.get(ch, ch) for ch in text))
    for finding in flagged(findings, fail_on):
        piece = finding["snippet"]
        if finding["channel"] == "text" and piece and piece in text:
            text = text.replace(piece, "[removed by llmsec rag_ingest_guard: %s]" % finding["rule"])
    text = MD_LINK.sub(lambda m: m.group(0) if not (_external(m.group(3)) and urlsplit(m.group(3)).query)
                       else "[%s](removed link)" % m.group(2), text)
    return text


def apply_action(result, action, output_dir=None, quarantine_dir=None, fail_on="medium", check_mode=False):
    """sanitize: clean copies of flagged documents to output_dir; quarantine: move flagged documents
    to quarantine_dir (0700, root), bytes kept. Nothing is deleted. Returns [{src, dest}]."""
    moved = []
    for path in result["flagged"]:
        base = os.path.basename(path)
        if action == "sanitize":
            dest = free_name(os.path.join(output_dir, base))
            moved.append({"src": path, "dest": dest})
            if not check_mode:
                kind, text = read_document(path)
                os.makedirs(output_dir, exist_ok=True)
                with open(dest, "w", encoding="utf-8") as handle:
                    handle.write(sanitize(text, kind, result["documents"][path], fail_on))
        elif action == "quarantine":
            dest = free_name(os.path.join(quarantine_dir, base))
            moved.append({"src": path, "dest": dest})
            if not check_mode:
                os.makedirs(quarantine_dir, mode=0o700, exist_ok=True)
                shutil.move(path, dest)
    return moved


def free_name(path):
    """path, or path.1, path.2, ...: never overwrite."""
    candidate, number = path, 0
    while os.path.exists(candidate):
        number += 1
        candidate = "%s.%d" % (path, number)
    return candidate
