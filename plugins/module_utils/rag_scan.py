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

Text is matched the way a model reads it: wrapped lines are joined, table cells
and list items are read in order (so an instruction split across them still
reads as one), base64, hex, percent-encoded and ROT13 runs are decoded and
scanned again. Cue words come in English, German, Spanish, French, Chinese and
Russian. What is legitimate is left alone: emoji joiners, flag tag sequences
and Persian or Indic joiners; role markup in API examples; contracts that
supersede earlier agreements; worksheets that drop a question; game handouts
addressed to players.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import codecs
import html
import os
import re
import shutil
import unicodedata
from html.parser import HTMLParser
from urllib.parse import unquote, unquote_plus, urlsplit

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
LEET_SIGNS = re.compile(r"[013457@$!]")
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
# Words of a text that discusses injection rather than performs it ("a classic payload is ...").
# Strong words make the context a discussion; weak ones ("example", "test", "strings": everyday words of
# business text too) only when the match itself is quoted.
DISCUSSION = re.compile(
    r"(\b(payload|payloads|attack|attacks|attacker|attackers|adversar\w*|injection|injections|injected|"
    r"jailbreak\w*|red[- ]team\w*|honeypot|guardrail\w*|malicious|phishing|control tokens?|chat templates?)\b)", re.I)
DISCUSSION_WEAK = re.compile(
    r"(\be\.g\.|\bi\.e\.|\b(example|examples|such as|for instance|phrase|phrases|tests?(?! set)|testing|test cases?|"
    r"dataset|strings?|planted|inserted)\b)", re.I)
# Addresses; a bare name ending in a file extension (site.yml, main.py) is a file, not a host.
# Names and labels are bounded (RFC 5321/1035 lengths): unbounded runs made a line of "a-a-a-..." quadratic.
URL = re.compile(r"\b(https?://|www\.)\S+|\b[\w.+-]{1,64}@[\w-]{1,63}(\.[\w-]{1,63}){1,8}|\b[\w-]{1,63}(\.[\w-]{1,63}){0,8}\."
                 r"(?!(ya?ml|json|py|md|txt|"
                 r"html?|sh|cfg|conf|toml|ini|log|csv|xml|js|ts|css|pdf|docx?|xlsx?|png|jpe?g|gif|svg|zip|gz|tar|j2|rst|"
                 r"lock|service|timer|socket|env|pem|crt|key|tf|go|rs|rb|java|sql)\b)[A-Za-z]{2,6}\b(/\S*)?")
HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*(0|0?\.\d+|[01])(px|pt|em|rem|%)?\s*(;|$)|"
    r"opacity\s*:\s*0(\.0+)?\s*(;|$)|color\s*:\s*(#fff\b|#ffffff\b|white\b|rgba?\(\s*255\s*,\s*255\s*,\s*255)|"
    r"(left|top|text-indent)\s*:\s*-\d{3,}|clip\s*:\s*rect\(0|height\s*:\s*0(px)?\s*;\s*overflow\s*:\s*hidden|"
    r"transform\s*:\s*scale\(0\)", re.I)
VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
# Markdown links and images, (!?)\[label\]\(\s*<?target>?(\s+"title")?\s*\): see md_links.
MD_LINK_HEAD = re.compile(r"(!?)\[([^\]]{0,300})\]\(\s*")
MD_LINK_TARGET_END = re.compile(r"[)\s>]")
MD_LINK_TITLE = re.compile(r"\s+\"")
MD_LINK_CLOSE = re.compile(r"\s*\)")
MD_REF_COMMENT = re.compile(r"^[ \t]*\[(//|comment|_)\]:[ \t]*#[ \t]*[(\"'](.*)[)\"'][ \t]*$", re.I | re.M)
B64_BLOCK = re.compile(r"(?<![A-Za-z0-9+/=_-])([A-Za-z0-9+/_-]{24,}={0,2})(?![A-Za-z0-9+/=_-])")
# Base64 wrapped over lines (e-mail attachments, PEM-like blocks), read as one block.
B64_WRAPPED = re.compile(r"(?m)^[ \t>]*[A-Za-z0-9+/]{16,}[ \t]*(?:\n[ \t>]*[A-Za-z0-9+/]{4,}={0,2}[ \t]*)+$")
HEX_BLOCK = re.compile(r"(?<![0-9a-fA-F])((?:[0-9a-fA-F]{2}){16,})(?![0-9a-fA-F])|((?:\\x[0-9a-fA-F]{2}){12,})")
# A query that carries data out: template placeholders (links and images), data words (images, which
# load without a click).
PLACEHOLDER = re.compile(r"(\{[^}]{1,40}\}|\$\{?\w+|<[^>]{1,40}>|\[[A-Z_ ]{3,40}\]|%s|\bINSERT\b|PLACEHOLDER)")
DATA_WORDS = re.compile(r"(=$|=&|secret|summary|conversation|history|chat|prompt|password|passwd|token|"
                        r"credential|ssn|e-?mail|messages?|context|d=$)", re.I)
FENCE = re.compile(r"^(```|~~~)", re.M)
# In text a reader does not see, any directive to a model is an attack (in encoded text: one that names the model).
# Searched in text whose runs of blanks are one blank (directs_ai): the words may stand 82 characters apart.
DIRECTIVE_TO_AI = (
    r"\b(assistant|ai|llm|chatbot|bot|gpt|model|summari[sz]er|agent)\b[^.!?\n]{0,82}?"
    r"\b(override|ignore|disregard|forget|write|say|tell|state|answer|respond|reply|recommend|mention|claim|include|"
    r"output|never|always|must|rate|rank|praise|promote)\b")
ENCODED_DIRECTIVE = re.compile(DIRECTIVE_TO_AI, re.I)
HIDDEN_DIRECTIVE = re.compile(
    DIRECTIVE_TO_AI + r"|^[ \t]*((hidden|note|notice|important|instructions?|ai|assistant|llm|"
    r"bot|model)[ \t]*:[ \t]*)?(please\s+)?(override|ignore|disregard|"
    r"forget|say|tell|answer|respond|reply|recommend|write|state|always|never|instead|append|include|send|"
    r"forward|insert|encode|print|reveal)\b", re.I | re.M)
# Paraphrases slip past any phrase list, so sentences are also scored on three kinds of words; two
# kinds in one sentence make a finding: (A) the text addresses an AI, (O) it overrides or rewrites
# instructions, (S) it reaches for secrets, data or the user. Each kind has cue words in English,
# German, Spanish, French, Chinese and Russian; they are matched after the same folding as the text
# (accents dropped: "précédentes" is written "precedentes", "й" is "и").


COMBINING_MARKS = dict.fromkeys(code for code in list(range(0x20000)) + list(range(0xE0000, 0xE1000))
                                if unicodedata.combining(chr(code)))


def strip_marks(text):
    """NFKC, then accents and other combining marks removed (what fold does, without confusables)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text)).translate(COMBINING_MARKS)


def _cue(*parts):
    return re.compile(strip_marks("|".join(parts)), re.I)


CUE_AI = _cue(
    r"\b(ai|a\.i\.|llms?|language models?|chat ?bots?|assistants?|gpt|chatgpt|claude|gemini|copilots?|llama|"
    r"bots?|agents?|summari[sz]ers?|models?)\b",
    r"\b(ki|k\.i\.|ki-\w+|sprachmodell\w*|chatbots?|assistent(en)?|ia|i\.a\.|asistente|modelo de lenguaje|"
    r"intelligence artificielle|inteligencia artificial|modele de langage|agent conversationnel|ии|ии-\w+|"
    r"ассистент\w*|бот\w*|чат-бот\w*|нейросет\w*|языков\w+ модел\w*|модел[ьи]\w*)\b",
    r"人工智能|助手|大模型|语言模型|聊天机器人|机器人|智能体|模型")
# Machines addressed by what they do: "the tool that condenses these minutes", "automated tools".
CUE_MACHINE = _cue(
    r"\b(tools?|systems?|programs?|software|services?|pipelines?|engines?|processes|applications?|apps?|scripts?|"
    r"readers?|crawlers?|indexers?|note-?takers?|scribes?)(?:\s*,\s+|\s+)(that|which)\s+(\w+\s+){0,2}?(condens|summar|"
    r"digest|abridg|shorten|process|read|index|ingest|pars|generat|produc|compil|transcrib|extract|answer)\w*",
    r"\b(whichever|whatever|any|every|each)\s+(\w+\s+)?(tool|system|program|software|service|pipeline|engine|process|"
    r"application|app|script|reader|model|assistant|bot)s?\s+(that\s+|which\s+)?(is\s+)?(\w+\s+)?(condens|summar|"
    r"digest|process|read|index|ingest|pars|generat|produc|compil)\w*",
    r"\bautomated (\w+ )?(tools?|agents?|systems?|assistants?|readers?|processes|pipelines?|scripts?|services?|"
    r"clients?|summar\w*|note-?takers?)\b|\b(coding|code|build) (assistants?|agents?|bots?)\b",
    r"\b(werkzeug|tool|programm|system|software)\s*,\s*(das|der|die|welches)\s+(\w+\s+){0,4}?(zusammenfass\w*|"
    r"verarbeit\w*|liest|auswertet|zusammenstellt)",
    r"\b(herramienta|sistema|programa|software)\s+que\s+(\w+\s+){0,2}?(resum|proces|lee|analiz|index)\w*",
    r"\b(outil|systeme|programme|logiciel)\s+qui\s+(\w+\s+){0,2}?(resum|trait|lit|analys|index|synthetis)\w*",
    r"\b(инструмент\w*|систем\w*|программ\w*)\s*(?:,\s*)?(котор\w+)\s+(\w+\s+){0,2}?(обобща|резюмир|обрабатыва|чита|"
    r"составля|пересказыва)\w*",
    r"(总结|概括|摘要|处理|汇总|整理)[^。\n]{0,12}(工具|系统|程序)")
# "Assistant, forward ...", "Ассистент, перешли ...": an AI named as the one spoken to, at the start.
VOCATIVE = _cue(r"^\W*(dear\s+|hey\s+|hi\s+|liebe[rs]?\s+|querid[oa]\s+|cher\s+|chere\s+)?(ai|a\.i\.|assistant|assistent|"
                r"asistente|ia|ki|ии|ассистент|бот|bot|chatbot|model|llm|agent|copilot|summari[sz]er|助手|人工智能)"
                r"(\s+\w+){0,2}\s*[,:]\s*\w")
CUE_YOU = _cue(
    r"\b(you|your|yourself|must|should|shall|needs? to|has to|is to)\b",
    r"\b(du|dir|dich|dein\w*|musst|sollst|tu|tus|te|ti|eres|debes|toi|ton|ta|tes|vous|votre|vos|dois|devez|"
    r"ты|тебе|тебя|твой|твоя|твое|твои|вы|вам|вас|ваш\w*|должен|должна|должны)\b",
    r"你|您|必须|应该|请")
CUE_SECOND = _cue(r"\b(you|your|yourself|du|dir|dich|dein\w*|tu|tus|te|ti|toi|ton|ta|tes|vous|votre|vos|"
                  r"ты|тебе|тебя|твой|твоя|твое|твои|вам|вас|ваш\w*)\b|你|您")
CUE_OVERRIDE = _cue(
    r"\b(ignore|disregard|forget|supersede\w*|overrid\w*|override|instead|void|stop what|stop doing|"
    r"highest priority|top priority|from (now|this point) on|henceforth|new (rules|instructions|task|orders)|updated instructions|real instructions|"
    r"original (ones|instructions|prompt)|previous (instructions|rules|guidelines|prompt)|system prompt|"
    r"your (instructions|rules|guidelines|programming|prompt|directives|configuration|settings)|no longer appl\w*|"
    r"(earlier|previous|prior|original) (configuration|settings|rules)|real (job|task|goal|purpose)|"
    r"true (job|task|goal|purpose)|was (just )?a test|quietly|secretly|keep (this|it)( note| message)? secret|"
    r"without (them|the user|anyone) (knowing|noticing))\b",
    r"\b(ignorier\w*|vergiss|vergessen sie|missacht\w*|ab sofort|ab jetzt|von nun an|(gilt|gelten) (\w+ )?nicht mehr|"
    r"(bisherig|vorherig|fruher|ursprunglich)\w* (anweisung|vorgabe|regel|instruktion)\w*|neue anweisung\w*|systemprompt\w*|"
    r"heimlich|unbemerkt|(ist|sind) (\w+ ){0,2}egal|"
    r"ignora\w*|olvida\w*|a partir de ahora|desde ahora|nuevas instrucciones|instrucciones anteriores|tus instrucciones|"
    r"en secreto|sin avisar|"
    r"ignore[zr]|oublie[zr]?|ne (tenez|tiens) plus compte|a partir de maintenant|desormais|dorenavant|"
    r"nouvelles (consignes|instructions)|(consignes|instructions) (precedentes|initiales|d'origine)|vos consignes|"
    r"tes consignes|prompt systeme|en secret|discretement|"
    r"игнорир\w*|забуд\w*|не обращай\w* внимания|предыдущ\w* инструкц\w*|нов\w* инструкц\w*|с этого момента|отныне|"
    r"теперь ты|тайно|незаметно|системн\w* промпт\w*)\b",
    r"忽略|无视|忘记(之前|以前|先前|所有|你的|上面)|忘掉|不要理会|从现在开始|从现在起|新的指令|之前的(所有)?(指令|指示|规则|设定)|"
    r"系统提示词|秘密地|偷偷")
# Priority changes without the word "ignore": they count as overrides when the sentence speaks to its
# reader ("outranks whatever you were set up to do"), so "takes precedence over the March plan" does not.
CUE_PRIORITY = _cue(
    r"\b(takes? precedence|taking precedence|precedence over|priority over|outrank\w*|overrul\w*|trump\w*|"
    r"more important than|(matters|counts?|weighs?) (for )?more than|more weight than|(first|top|highest|absolute) priority|"
    r"the rest of your (guidance|instructions|rules|guidelines|brief|directions|prompt)|"
    r"(set up|configured|programmed|briefed|designed|built|told|asked|instructed) to do|"
    r"(usual|normal|standard|default|regular|assigned|current|original|initial|actual) (task|job|brief|briefing|role|"
    r"instructions|purpose|function|mandate|assignment|guidelines|rules|prompt|directions)|"
    r"(does|do) not apply|doesn't apply|don't apply|no longer (applies|apply|counts?|matters?))\b",
    r"\b(hat vorrang|haben vorrang|vorrang vor|wichtiger als|was (man )?(dir|dich) (\w+ )?(vorgegeben|gesagt|aufgetragen)|"
    r"tiene prioridad|prioridad sobre|prevalece\w*|mas importante que|prime sur|priorite sur|plus important que|"
    r"приоритет над|важнее)\b",
    r"优先于|比[^。\n]{0,10}更重要")
CUE_SENSITIVE = _cue(
    r"(\b(passwords?|api[ _-]?keys?|secrets?|credentials?|access tokens?|salar(y|ies)|confidential|ssn|credit card|"
    r"bank details|bank account|iban|home address|every document|all (the )?documents|retrieved|context window|"
    r"conversation history|chat history|tell the user|ask (the user|them|him|her) for|do not tell|don't tell|"
    r"without telling|access denied|session (has )?expired|email address(es)?|"
    r"environment variables|hidden instructions|initial instructions|"
    r"tell (every|each|all|the )?(customers?|users?|visitors?|readers?|people|person)|the person you are helping|"
    r"in (every|each|all) (reply|replies|answer|answers|response|responses))\b|https?://|www\.)",
    r"\b(passwort\w*|passworter|kennwort\w*|zugangsdaten|api-schlussel\w*|vertraulich\w*|gehalt\w*|gehalter|"
    r"gehaltsliste|bankverbindung|kontodaten|gesprachsverlauf|chatverlauf|kontaktdaten|"
    r"contrasena\w*|credenciales|confidencial\w*|salario\w*|historial|datos (personales|bancarios)|cuenta bancaria|"
    r"mots? de passe|identifiants|confidentiel\w*|salaires?|historique|coordonnees bancaires|donnees personnelles|"
    r"cles? d'?api|"
    r"парол\w*|ключ\w* api|учетн\w* данн\w*|конфиденциальн\w*|зарплат\w*|переписк\w*|персональн\w* данн\w*|"
    r"банковск\w*|не говори\w*|никому не (говори|сообщай)\w*|sag (es )?niemandem|erwahne (das|es|dies) nicht|"
    r"ohne es (\w+ )?zu sagen|no (se lo |le )?digas|sin decir\w*|ne (le |lui )?dis (rien|pas)|sans le (lui )?dire)\b",
    r"密码|密钥|凭证|机密|工资|薪资|聊天记录|对话记录|个人信息|银行卡|银行账户|不要告诉")
SENTENCE = re.compile(r"[^.!?\n。！？]+[.!?。！？]?")
HIDDEN_MODEL_WORDS = re.compile(r"\b(assistant|ai|llm|model|chatbot|gpt|answer\w*|respond\w*|repl(y|ies)|recommend|"
                                r"mention|always|never|must|instructions?|ignore|summar\w+|instead|password)\b", re.I)
# A negation before or inside a match ("never reveal API keys", "Geben Sie Ihr Passwort niemals weiter")
# turns a rule marked `negatable` into advice.
NEGATION = _cue(r"\b(never|not|no|don't|do not|does not|doesn't|must not|mustn't|should not|shouldn't|cannot|can't|"
                r"won't|refus\w*|avoid\w*|prevent\w*|prohibit\w*|forbid\w*|nie|niemals|nicht|kein\w*|nunca|jamas|"
                r"jamais|pas|ne|не|нельзя|никогда|запрещ\w*)\b|不|勿|禁止|别|严禁|切勿")
TRAILING_NEGATION = _cue(r"\b(nie|niemals|nicht|kein\w*)\b")
# Handouts for tabletop games, murder-mystery parties and training exercises speak to people
# ("you are now the detectives"); their role changes and "ignore the red herrings" are not attacks.
# Words of games and exercises only: minutes with "attendees" and a "workshop" are not a handout.
HUMAN_AUDIENCE = _cue(r"\b(players?|game ?masters?|gm|dungeon masters?|campaign|handouts?|d20|dice|roll (a|for)|"
                      r"tabletop|larp|character (sheet|brief)|your character|in character|npcs?|costume|x-card|"
                      r"house rules|session (0|zero)|scenario cards?|facilitator|clue cards?|suspects?|murder mystery|"
                      r"escape room|role-?play(ing)? (exercise|game)|debrief\w*|spieler\w*|spielleiter\w*|rollenspiel|"
                      r"planspiel|jugadores|juego de rol|joueurs|jeu de role|cas pratique|animat(eur|rice)|"
                      r"игрок\w*|ролев\w* игр\w*)\b|角色扮演|玩家|剧本杀")
ROLEPLAY_RULES = ("role-", "override-", "multilingual-override", "multilingual-role")
REPORTED_SPEECH = re.compile(r"\b(told|asked|tell|ask|instructed|wanted|want|let|made|make|taught|reminded)\s+(my|his|"
                             r"her|their|our|the|a|some|all)\s+(\w+\s+){0,2}to\s*$", re.I)
OVERRIDE_VERB = re.compile(r"ignor\w*|disregard\w*|forget|overrid\w*|override|overrul\w*|bypass|skip|neglect|abandon|"
                           r"drop|discard|erase|wipe", re.I)
# "Disregard question 3", "ignore item 4 of the previous handout": the object is a numbered part.
NUMBERED_PART = re.compile(r"^\s*(the\s+)?(questions?|items?|steps?|sections?|exercises?|problems?|parts?|pages?|slides?|"
                           r"lines?|paragraphs?|clauses?|rows?|tasks?|numbers?|no\.|#|points?|figures?|tables?|"
                           r"appendix|annex|chapters?|q|art(icle)?\.?|§)\s*\(?([0-9]+|[ivx]+\b|[a-h]\b)", re.I)
# "Ignore this message if you already changed your password", "the ignore list": the object is a message
# or the word is a noun.
BENIGN_IGNORE = _cue(
    r"\b(ignore[zr]?|ignoring|disregard|ignorier\w*|ignora\w*|игнорир\w*)\s+((this|the|that|these|any|such|ce|cet|cette|ces|"
    r"diese[nrs]?|die|solche|este|esta|estos|estas|это|эти|такие)\s+(\w+\s+){0,2})?(message|messages|e-?mails?|mails?|"
    r"notice|warning|reminder|letter|alert|courriel|nachricht\w*|mensaje|correo|письм\w*|сообщени\w*|avertissement|"
    r"warnung)\b|\bignore (list|lists|file|files|pattern|patterns|flag|option|setting)\b",
    r"忽略(此|这个|该|这条)?(提示|警告|消息|邮件|通知)")
# "If someone asks for your password, ignore them": the person asking is ignored, not any instructions.
IGNORE_ASKER = _cue(r"\b(ignor\w*|disregard)\s+(it|them|him|her|that|this|the request|such requests?|these requests?|"
                    r"those requests?|the person|the caller|the sender)\b(?!\s+(instructions|rules|guidelines))",
                    r"忽略(它|他们|此类请求|这类请求|该请求)?并")
ASKING = _cue(r"\b(asks?|asking|requests?|demands?|claims?|pretends?)\b|索要|要求|声称|просит|попрос\w*|спрашива\w*")
# "Please disregard my previous message": the writer withdraws their own words.
SELF_CORRECTION = re.compile(r"^\s*(\w+\s+)?(my|our)\s+(\w+\s+){0,2}(messages?|e-?mails?|mails?|notes?|instructions?|"
                             r"requests?|repl(y|ies)|comments?|memos?|letters?|figures|numbers|draft|version)\b", re.I)
# "Forget the old instructions of the 2019 manual": instructions that belong to a named document for people.
SCOPED_OBJECT = _cue(
    r"^\s*(\w+\s+){0,2}?(of|in|from|for|on|about|del|de la|de los|des|du|de|aus|im|in der|aus dem|из|в|для)\s+"
    r"(the\s+|this\s+|that\s+|our\s+|el\s+|la\s+|le\s+|les\s+|l'|dem\s+|der\s+|des\s+)?(\d{4}\s+)?(\w+\s+)?"
    r"(manual|handbook|wiki|guide|worksheet|handout|form|version|release|edition|brochure|leaflet|sheet|template|"
    r"checklist|memo|e-?mail|letter|bonus task|exercise|assignment|homework|exam|quiz|course|training|manuel|handbuch|"
    r"anleitung|formular|руководств\w*|памятк\w*|бланк\w*)\b")
NUMBERED_PART_CJK = re.compile(r"第\s*[0-9一二三四五六七八九十]+\s*(步|条|题|项|节|章|页|部分)")
# "This Agreement supersedes all previous instructions and agreements": a document replacing others.
LEGAL_SUPERSEDE = _cue(
    r"\b(agreements?|contracts?|amendments?|addend(um|a)|schedules?|annex|exhibit|terms|polic(y|ies)|versions?|"
    r"editions?|releases?|procedures?|regulations?|orders?|notices?|memo(randum)?|letters?|documents?|sections?|"
    r"clauses?|articles?|vertrag|vereinbarung|richtlinie|acuerdo|contrato|contrat|accord|avenant|договор\w*|"
    r"соглашени\w*)\b[^.!?\n]{0,80}\b(supersed\w*|overrid\w*|replac\w*|revok\w*|prevail\w*|ersetzt|sustituye|"
    r"reemplaza|remplace|annule|заменяет|отменяет)\b")
LEGAL_OBJECT = _cue(r"\b(agreements?|arrangements?|understandings?|representations?|negotiations?|contracts?|"
                    r"side letters?|vereinbarung\w*|abreden|acuerdos?|accords?|договоренност\w*)\b")
# Tool or function calls that act on the world, written out for the model to perform.
TOOL_NAME = re.compile(r"[\"']?\b(tool|tool_name|name|function|function_name|action|command|operation|recipient_name)"
                       r"[\"']?\s*[:=]\s*(?:[\"']([\w.:/ -]{2,60})[\"']|([\w.:/-]{2,60})[ \t]*$)", re.I | re.M)
SIDE_EFFECT_WORDS = {"send", "email", "mail", "sendmail", "smtp", "exec", "execute", "shell", "bash", "sh", "cmd",
                     "command", "run", "terminal", "subprocess", "http", "request", "fetch", "curl", "wget", "upload",
                     "webhook", "delete", "remove", "drop", "truncate", "destroy", "purge", "wipe", "rm", "transfer",
                     "pay", "payment", "wire", "write", "grant", "ssh", "post", "eval", "python", "powershell"}
TOOL_ARGS = re.compile(r"[\"']?\b(arguments|args|parameters|params|input|inputs|payload|body|to|recipient|cmd|command|"
                       r"url|script|query|where|path|target|method)[\"']?\s*[:=]", re.I)
TOOL_SCHEMA = re.compile(r"[\"']type[\"']\s*:\s*[\"']object[\"']|[\"']properties[\"']\s*:|[\"']required[\"']\s*:\s*\[",
                         re.I)
TOOL_DANGER = re.compile(r"\{\{|\$\{?[A-Z][A-Z_]{2,}|\b(credentials?|passwords?|passwd|secrets?|api[_-]?keys?|tokens?|"
                         r"conversation|chat_history|history|id_rsa|shadow)\b|\.ssh\b|\.aws\b|\|\s*(sudo\s+)?(ba|z|k)?sh\b|"
                         r"\brm\s+-rf\b|\b1\s*=\s*1\b|\bcurl\s[^\"\n]*https?://", re.I)
ADDRESSED_CALL = _cue(
    r"\b(assistants?|agents?|ai|a\.i\.|llms?|models?|bots?|copilots?|automation|you)\b[^.!?\n]{0,80}?"
    r"(\b(must|should|shall|will|has to|have to|is to|are to|needs? to|please|now)|[,:])\s+((first|now|always|"
    r"immediately|then)\s+)?(call|invoke|execute|run|issue|perform|emit|trigger|make|send|fire)\b",
    r"(^|[.!?:]\s+)(call|invoke|execute|run|issue|perform|emit|trigger)\s+((this|the following|these|the next)\s*)?"
    r"(tool|function)( calls?)?\b")
# Package indexes and download sources recommended to machines: dependency confusion by way of the assistant.
PACKAGE_SOURCE = re.compile(
    r"--(extra-)?index-url\b|\bindex-url\s*=|--registry\b|\bregistry\s*=|\bnpm config set registry\b|"
    r"\b(package|python|npm|pypi|pip|maven|nuget|gem|cargo|go) (index|registry|mirror|feed|repository|source)\b[^.!?\n]{0,60}"
    r"(https?://|\bURL\b)|\b(mirror|registry|index|feed)\b[^.!?\n]{0,40}(https?://|\bURL\b)|"
    r"\b(install|fetch|download|pull|get|obtain|source)\w*\b[^.!?\n]{0,60}\bfrom\s+(https?://|\bURL\b|[\w-]+(\.[\w-]+)+)|"
    r"\b(configure|point|set|switch|tell)\w*\s+(npm|pip|yarn|pnpm|poetry|uv|cargo|maven|gradle|nuget|gem|bundler|go|conda)\b"
    r"[^.!?\n]{0,40}(https?://|\bURL\b)", re.I)
PACKAGE_DIRECTIVE = re.compile(r"\b(always|should|must|shall|need to|have to|are to|is to|please|recommend\w*|suggest\w*|"
                               r"prefer\w*|use|install|fetch|point|configure|set|switch)\b", re.I)
REPLACES_OFFICIAL = re.compile(r"\b(instead|rather than|official|default|public index|deprecated|rate-limited|blocked|"
                               r"blocks|outdated|compromised|moved to|no longer)\b", re.I)
REGISTRY_BRANDS = re.compile(r"pypi|pypl|pythonhosted|npmjs|npm|yarnpkg|rubygems|crates|nuget|maven|golang|docker|"
                             r"github|gitlab|huggingface|conda|anaconda", re.I)
OFFICIAL_HOSTS = ("pypi.org", "pythonhosted.org", "python.org", "npmjs.org", "npmjs.com", "yarnpkg.com", "rubygems.org",
                  "crates.io", "nuget.org", "maven.org", "apache.org", "golang.org", "go.dev", "docker.io", "docker.com",
                  "github.com", "githubusercontent.com", "gitlab.com", "huggingface.co", "anaconda.org", "anaconda.com",
                  "conda.io")
# Hints that text is encoded and should be decoded and acted upon.
ROT13_HINT = re.compile(r"\brot[- ]?13\b|\bcaesar\b|\b(rotat|shift)\w*\s+(\w+\s+){0,2}by\s+13\b", re.I)
STOPWORDS = frozenset("the and to of you your a is that in it for be on with this are not all as or from at by any "
                      "must should tell ignore instructions previous user always never will".split())
# Letters of scripts that join (Arabic, Syriac, N'Ko) or build conjuncts (Indic, Myanmar, Khmer, Mongolian):
# ZWNJ and ZWJ between two of them are spelling, not hiding.
JOINING_SCRIPTS = ((0x0600, 0x08FF), (0x0900, 0x0DFF), (0x1000, 0x109F), (0x1780, 0x18AF), (0xA840, 0xA87F),
                   (0xA8E0, 0xA8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF), (0x10A00, 0x10A5F), (0x11000, 0x1107F))
TAG_CHAR = re.compile("[\U000E0000-\U000E007F]")
ZERO_WIDTH_CHAR = re.compile("[%s]" % ZERO_WIDTH)
BIDI_OVERRIDE_CHAR = re.compile("[%s]" % BIDI_OVERRIDES)
HIDDEN_CHAR = re.compile("[%s%s%s\U000E0000-\U000E007F]" % (ZERO_WIDTH, BIDI_OVERRIDES, BIDI_OTHER))
FLAG_TAGS = re.compile("\U0001F3F4[\U000E0061-\U000E007A]{2}[\U000E0030-\U000E0039\U000E0061-\U000E007A]{1,5}\U000E007F")
ZW_BITS = re.compile("[\u200b\u200c\u200d\u2060]{16,}")
ROT13_WINDOW = 1200  # characters decoded after a ROT13 hint
MAX_DECODE_DEPTH = 3  # base64 of base64 of base64; deeper nesting is a finding, not decoded


class ScanError(Exception):
    pass


# Python's re tries a case-insensitive pattern that starts with \b or a letter at every position of the
# text; a rule's possible first letters, searched for without case in a lower-cased copy of the text, find
# the few places worth trying (2-3 times faster on ordinary text). The starts come from re's own parser
# (private, hence the fallback: without it every rule is tried everywhere, as before).
try:
    from re import _casefix as _re_casefix, _constants as _re_constants, _parser as _re_parser
    _EQUIVALENT_CASES = _re_casefix._EXTRA_CASES  # pylint: disable=protected-access
except ImportError:  # Python before 3.11
    try:
        import sre_compile as _re_compiler
        import sre_constants as _re_constants
        import sre_parse as _re_parser
        _EQUIVALENT_CASES = _re_compiler._ignorecase_fixes  # pylint: disable=protected-access
    except (ImportError, AttributeError):
        _re_parser = _EQUIVALENT_CASES = None
# Letters re.IGNORECASE takes as one beyond lower case (i and dotless i, s and long s, sigma and final
# sigma, ...): each to the lowest of its kind, in the text and in the starts alike.


def _same_case():
    same = {}
    for code, others in (_EQUIVALENT_CASES or {}).items():
        kind = [chr(each) for each in (code,) + tuple(others)]
        same.update((letter, min(kind)) for letter in kind if letter != min(kind))
    return same


SAME_CASE = _same_case()
START_LENGTH = 4  # characters of each start
MAX_STARTS = 1000


def _starts(items, prefixes):
    """(prefixes, whole): the texts (lower case, SAME_CASE-folded, up to START_LENGTH long) that a match of
    the parsed items, preceded by one of `prefixes`, begins with; whole: the items were read to their end.
    None where a match may begin with anything."""
    constants = _re_constants
    for index, (op, value) in enumerate(items):
        if all(len(prefix) >= START_LENGTH for prefix in prefixes):
            return prefixes, False
        if op in (constants.AT, constants.ASSERT, constants.ASSERT_NOT):
            continue  # zero-width
        if op is constants.LITERAL or op is constants.IN:
            letters = _letters([(op, value)])
            if letters is None:
                return prefixes, False
            prefixes = {prefix + letter if len(prefix) < START_LENGTH else prefix
                        for prefix in prefixes for letter in letters}
        elif op is constants.SUBPATTERN:
            prefixes, whole = _starts(value[-1], prefixes)
            if not whole:
                return prefixes, False
        elif op is constants.BRANCH:
            branches = [_starts(branch, prefixes) for branch in value[1]]
            if any(branch is None for branch, _whole in branches):
                return None, False
            prefixes = set().union(*(branch for branch, _whole in branches))
            if not all(whole for _branch, whole in branches):
                return prefixes, False
        elif op in (constants.MAX_REPEAT, constants.MIN_REPEAT):
            taken = _starts(value[2], prefixes)[0]
            skipped = _starts(items[index + 1:], prefixes)[0] if value[0] == 0 else set()
            return (None if taken is None or skipped is None else taken | skipped), False
        else:
            return prefixes, False
        if prefixes is None or len(prefixes) > MAX_STARTS:
            return None, False
    return prefixes, True


def _letters(items):
    """The characters one LITERAL or IN item matches, lower case and SAME_CASE-folded; None for a class too
    wide to list (\\w, [^...], long ranges) or a letter that lower-cases to two."""
    letters = set()
    for op, value in items:
        if op is _re_constants.IN:
            members = _letters(value)
            if members is None:
                return None
            letters |= members
        elif op is _re_constants.LITERAL:
            letter = chr(value).lower()
            if len(letter) != 1:
                return None
            letters.add(SAME_CASE.get(letter, letter))
        elif op is _re_constants.RANGE and value[1] - value[0] < 64:
            members = _letters([(_re_constants.LITERAL, code) for code in range(value[0], value[1] + 1)])
            if members is None:
                return None
            letters |= members
        else:
            return None
    return letters


def start_finder(regex):
    """A regex (no flags, so re scans for its first letters fast) for the lower-cased text (match_key) that
    finds every place a match of `regex` can start; None when that cannot be known."""
    if _re_parser is None:
        return None
    try:
        prefixes, _whole = _starts(_re_parser.parse(regex.pattern, regex.flags), {""})
    except Exception:  # pylint: disable=broad-except  # private API: any change in it means no finder
        return None
    if not prefixes or any(len(prefix) < 2 and prefix < "\u2e80" for prefix in prefixes):
        return None  # a start of one letter is everywhere (of one CJK character, rare enough)
    return re.compile("|".join(re.escape(prefix) for prefix in sorted(prefixes, key=lambda p: (-len(p), p))))


def match_key(text):
    """The text start_finder's regexes search: lower case, SAME_CASE-folded, the same length (None when
    lower case is longer, as for a dotted capital I)."""
    key = text.lower()
    if len(key) != len(text):
        return None
    return key.translate(SAME_CASE_TABLE) if SAME_CASE and not key.isascii() else key


SAME_CASE_TABLE = str.maketrans(SAME_CASE)
STARTS = {}  # id(regex): (regex, its start_finder); by id, as hashing a compiled pattern hashes all its code


def fast_finditer(regex, text, key=None, starts=False):
    """regex.finditer(text), the same matches; faster when key is match_key(text): regex is tried only
    where its start finder (default: start_finder(regex), once) finds a start."""
    if starts is False:
        known = STARTS.get(id(regex))
        if known is None:
            known = STARTS[id(regex)] = (regex, start_finder(regex))
        starts = known[1]
    if starts is None or key is None:
        yield from regex.finditer(text)
        return
    position = 0
    while True:
        start = starts.search(key, position)
        if not start:
            return
        match = regex.match(text, start.start())
        if match:
            yield match
            position = max(match.end(), start.start() + 1)
        else:
            position = start.start() + 1


def fast_search(regex, text, key=None):
    """regex.search(text), faster when key is match_key(text) (see fast_finditer)."""
    return next(fast_finditer(regex, text, key), None)


class Rule:
    """One text rule. `negatable: true` marks advice-shaped rules: a negation before or inside the match
    ("never reveal API keys") lowers it to low. Patterns are folded like the text (accents dropped)."""
    __slots__ = ("id", "severity", "rationale", "regex", "negatable", "starts")

    def __init__(self, spec, where):
        for key in ("id", "severity", "pattern"):
            if not spec.get(key):
                raise ScanError("%s: rule %r has no %s" % (where, spec.get("id", "?"), key))
        if spec["severity"] not in SEVERITIES[1:]:
            raise ScanError("%s: rule %s: severity must be high, medium or low" % (where, spec["id"]))
        pattern = strip_marks("".join(line.strip() for line in str(spec["pattern"]).splitlines()))
        try:
            self.regex = re.compile(pattern, re.I | re.M)
        except re.error as exc:
            raise ScanError("%s: rule %s: bad pattern: %s" % (where, spec["id"], exc))
        self.id = str(spec["id"])
        self.severity = spec["severity"]
        self.rationale = spec.get("rationale", "")
        self.negatable = bool(spec.get("negatable", False))
        self.starts = start_finder(self.regex)

    def finditer(self, text, key=None):
        """self.regex.finditer(text); faster, with the same matches, when key is match_key(text)."""
        return fast_finditer(self.regex, text, key, self.starts)


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

# A word (a whole run of letters) with a confusable letter in it.
CONFUSABLE_WORD = re.compile(r"(?<![^\W\d_])[^\W\d_]*[%s][^\W\d_]*" % "".join(CONFUSABLES))


def _unconfuse(word):
    """A word of Latin and look-alike letters spelled in ASCII; a real Cyrillic or Greek word (one with
    letters that have no Latin twin) unchanged, so Russian cue words still match."""
    folded = "".join(CONFUSABLES.get(ch, ch) for ch in word)
    return folded if all(ord(ch) < 0x250 for ch in folded) else word


INVISIBLE = dict.fromkeys([ord(ch) for ch in ZERO_WIDTH + BIDI_OVERRIDES + BIDI_OTHER]
                          + list(range(TAG_RANGE[0], TAG_RANGE[1] + 1)))


def fold(text):
    """NFKC, confusable letters to ASCII, invisible characters and combining marks removed."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text).translate(INVISIBLE)
    if not CONFUSABLES.keys().isdisjoint(text):
        text = CONFUSABLE_WORD.sub(lambda match: _unconfuse(match.group(0)), text)
    return strip_marks(text)


LIST_ITEM = re.compile(r"^\s{0,6}([-*+\u2022\u25aa\u2023\u25e6]|\d{1,3}[.)]|[a-zA-Z][.)])\s+(\S.*)$")
BLOCK_START = re.compile(r"^\s*([-*+>#|\u2022]|\d{1,3}[.)]\s|```|~~~| {4}|\t)")


def unwrap(text):
    """Lines wrapped inside a sentence joined (the newline becomes a space, offsets stay): a long line
    that does not end a sentence and is followed by more prose."""
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        out.append(line)
        if index + 1 == len(lines):
            break
        nxt = lines[index + 1]
        stripped = line.strip()
        item_goes_on = LIST_ITEM.match(line) and re.match(r"^\s{2,}\S", nxt) and not LIST_ITEM.match(nxt)
        joins = (len(stripped) >= 40 and not re.search(r"[.!?:;|\u3002\uff01\uff1f]$", stripped)
                 and nxt.strip() and not BLOCK_START.match(nxt) and (item_goes_on or not BLOCK_START.match(line))
                 and not re.match(r"^\s*[\w-]{1,30}:\s", nxt))
        out.append(" " if joins else "\n")
    return "".join(out)


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


def md_links(text):
    """[(start, end, image, label, target, title)] of Markdown links and images, in order: image is "!" or "",
    label up to 300 characters, target up to a ")", blank or ">" (in <...> or not), title (None when absent)
    in double quotes - what the regex (!?)[(...)](<?(target)>? "(title)") found before.

    Found by hand in linear time: with the regex every "[x](" inside an unclosed target or title scanned the
    same run again, and a line of "![a](![a](..." took minutes. Each run is scanned once: from anywhere in a
    target the target ends at the same place, and from anywhere before a '"' the next '"' is the same."""
    links, position = [], 0
    run = [1, 0]  # the target from run[0] ends at run[1], as does one from anywhere up to it
    quote = [len(text) + 1, -1]  # the first '"' at or after quote[0] is at quote[1] (-1: none)

    def target_end(at):
        if not run[0] <= at <= run[1]:
            stop = MD_LINK_TARGET_END.search(text, at)
            run[:] = [at, stop.start() if stop else len(text)]
        return run[1]

    def next_quote(at):
        if not (quote[0] <= at and (quote[1] < 0 or at <= quote[1])):
            quote[:] = [at, text.find('"', at)]
        return quote[1]

    while True:
        head = MD_LINK_HEAD.search(text, position)
        if not head:
            return links
        start = head.end()
        if text.startswith("<", start) and target_end(start + 1) > start + 1:
            start += 1  # <target>; a "<" followed by nothing of a target is the target
        end = target_end(start)
        link = None
        if end > start:
            after = end + 1 if text.startswith(">", end) else end
            title = MD_LINK_TITLE.match(text, after)
            closing = next_quote(title.end()) if title else -1
            close = MD_LINK_CLOSE.match(text, closing + 1) if closing >= 0 else None
            if close:
                link = (head.start(), close.end(), head.group(1), head.group(2), text[start:end],
                        text[title.end():closing])
            else:
                close = MD_LINK_CLOSE.match(text, after)
                if close:
                    link = (head.start(), close.end(), head.group(1), head.group(2), text[start:end], None)
        if link:
            links.append(link)
            position = link[1]
        else:
            position = head.start() + 1


IMG_SRC = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.I)


def img_sources(text):
    """IMG_SRC.finditer(text) in linear time: a tag without a src is not searched again from each "<img" in it."""
    matches, position, failed = [], 0, (-1, -1)  # failed: no src from failed[0] up to the ">" at failed[1]
    for tag in re.finditer(r"<img\b", text, re.I):
        if tag.start() < position or failed[0] < tag.start() < failed[1]:
            continue
        match = IMG_SRC.match(text, tag.start())
        if match:
            matches.append(match)
            position = match.end()
        else:
            close = text.find(">", tag.start())
            failed = (tag.start(), close if close >= 0 else len(text) + 1)
    return matches


def html_comments(text):
    """[(start, end, body)] of <!-- ... --> comments, what <!--(.*?)--> finds (re.S), in linear time: once a
    comment is left open there is no later "-->", so the search ends instead of trying every later "<!--"."""
    comments, position = [], 0
    while True:
        start = text.find("<!--", position)
        end = text.find("-->", start + 4) if start >= 0 else -1
        if end < 0:
            return comments
        comments.append((start, end + 3, text[start + 4:end]))
        position = end + 3


def _replace_spans(text, spans):
    """text with each (start, end, replacement) of spans (in order, not overlapping) put in."""
    pieces, position = [], 0
    for start, end, replacement in spans:
        pieces += [text[position:start], replacement]
        position = end
    return "".join(pieces) + text[position:]


class HtmlText(HTMLParser):
    """Visible text, hidden text (by style, attribute or element), attribute text (alt, title, aria-label).

    The visible text keeps the page's reading order: blocks end lines, table rows become "| a | b |"
    lines and list items "- " lines (read like Markdown), and <pre>/<code> become fenced or inline code."""

    HIDING_TAGS = {"script", "style", "template", "noscript", "head", "title"}
    BLOCKS = {"p", "div", "br", "tr", "table", "ul", "ol", "section", "article", "header", "footer", "h1", "h2", "h3",
              "h4", "h5", "h6", "blockquote", "dt", "dd", "hr", "main", "nav", "aside", "form", "figure", "figcaption"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.visible, self.hidden, self.attributes = [], [], []
        self.stack = []  # (tag, hidden) of the open elements
        # How many open elements hide their content, and how many of each tag are open: asking the stack
        # made a page of 100 000 nested <div>s quadratic.
        self.hiding, self.open = 0, {}

    def read(self, text):
        """Parse a whole page. Constructs left open ("<!--", "<![", a "<" with no ">" after it) are text
        to the parser when it closes, but it first searches the rest of the page for their end from
        each of them (minutes for a page of unclosed "<img ..."): they are handed to it as text."""
        last = text.rfind(">")
        text = text[:last + 1] + text[last + 1:].replace("<", "&lt;")
        for opener, closer in (("<!--", "-->"), ("<![", "]]>")):
            last = text.rfind(closer) + 1
            text = text[:last] + text[last:].replace(opener, "&lt;" + opener[1:])
        self.feed(text)
        self.close()
        return self

    def _push(self, tag, hidden):
        self.stack.append((tag, hidden))
        self.hiding += hidden
        self.open[tag] = self.open.get(tag, 0) + 1

    def _pop_to(self, tag):
        """Close the innermost open `tag` and what is open inside it."""
        if not self.open.get(tag):
            return
        while self.stack:
            name, hidden = self.stack.pop()
            self.hiding -= hidden
            self.open[name] -= 1
            if name == tag:
                return

    def _hidden(self):
        return self.hiding > 0

    def _mark(self, text):
        if not self._hidden():
            self.visible.append(text)

    def _in(self, tag):
        return self.open.get(tag, 0) > 0

    def handle_starttag(self, tag, attrs):
        attrs = dict((name.lower(), value or "") for name, value in attrs)
        for name in ("alt", "title", "aria-label", "data-prompt", "data-instructions", "content"):
            if attrs.get(name) and (name != "content" or tag == "meta"):
                self.attributes.append(attrs[name])
        if tag in self.BLOCKS:
            self._mark("\n")
        elif tag == "li":
            self._mark("\n- ")
        elif tag in ("td", "th"):
            self._mark(" | ")
        elif tag == "pre":
            self._mark("\n```\n")
        elif tag == "code" and not self._in("pre"):
            self._mark("`")
        hidden = ("hidden" in attrs or attrs.get("aria-hidden") == "true" and tag not in ("svg", "i")
                  or bool(HIDDEN_STYLE.search(attrs.get("style", ""))) or tag in self.HIDING_TAGS)
        if tag not in VOID_TAGS:
            self._push(tag, hidden)

    def handle_endtag(self, tag):
        self._pop_to(tag)
        if tag == "pre":
            self._mark("\n```\n")
        elif tag == "code" and not self._in("pre"):
            self._mark("`")
        elif tag == "tr":
            self._mark(" |\n")
        elif tag in self.BLOCKS or tag == "li":
            self._mark("\n")

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] in ("script", "style"):
            return
        if self.stack and self.stack[-1][0] in ("td", "th", "li", "tr", "table", "ul", "ol") and not data.strip():
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

ROLE_CONTENT = re.compile(r"[\"']role[\"']\s*:\s*[\"'](system|user|assistant|developer|tool|function|model)[\"']\s*,\s*"
                          r"[\"']content[\"']\s*:\s*\"(?:[^\"\\\n]|\\.){0,3000}\"|[\"']content[\"']\s*:\s*\"(?:[^\"\\\n]|"
                          r"\\.){0,3000}\"\s*,\s*[\"']role[\"']\s*:\s*[\"'](system|user|assistant|developer|tool|function|"
                          r"model)[\"']", re.I)
API_CONTEXT = re.compile(r"[\"']messages[\"']\s*:|[\"']model[\"']\s*:|\bcurl\b|\bPOST\b|/v1/|\bapi\b|\bendpoint|"
                         r"\brequest body\b|\bresponse\b|\bexport\b", re.I)


def _regions(text):
    """Spans of fenced code (weight 2), and of inline code, quotations, asides in parentheses and indented
    code (weight 1).
    The content of a chat turn in API markup ({"role": "system", "content": "..."}) is an example of a
    conversation: weight 2 in API documentation and transcripts, 1 elsewhere."""
    spans = []
    fences = [match.start() for match in FENCE.finditer(text)]
    for start, end in zip(fences[::2], fences[1::2]):
        spans.append((start, end, 2))
    for match in re.finditer(r"`[^`\n]+`|\"[^\"\n]{3,400}\"|\u201c[^\u201d\n]{3,400}\u201d|'[^'\n]{8,400}'|\u00ab[^\u00bb\n]{3,400}\u00bb", text):
        spans.append((match.start(), match.end(), 1))
    for match in re.finditer(r"\([^()\n]{3,300}\)", text):  # an aside
        spans.append((match.start(), match.end(), 1))
    for match in re.finditer(r"^[ \t]*>.*$", text, re.M):
        spans.append((match.start(), match.end(), 1))
    for match in re.finditer(r"^( {4}|\t).*$", text, re.M):
        spans.append((match.start(), match.end(), 1))
    turns = list(ROLE_CONTENT.finditer(text))
    if turns:
        weight = 2 if API_CONTEXT.search(text) or any((turn.group(1) or turn.group(2)).lower() in ("user", "assistant")
                                                      for turn in turns) else 1
        spans.extend((turn.start(), turn.end(), weight) for turn in turns)
    return spans


class Regions:
    """The spans of _regions, asked for the weight of the heaviest one around a place in O(log n) (a scan
    of every span for every match made a long document quadratic)."""

    def __init__(self, spans):
        self.weights = []  # (weight, span starts in order, the farthest end of the spans up to each)
        for weight in sorted({weight for _start, _end, weight in spans}, reverse=True):
            chosen = sorted((start, end) for start, end, each in spans if each == weight)
            ends, farthest = [], -1
            for _start, end in chosen:
                farthest = max(farthest, end)
                ends.append(farthest)
            self.weights.append((weight, [start for start, _end in chosen], ends))

    def around(self, start, end, inside=False):
        """The weight of the heaviest span with span start <= start and end <= span end (with inside:
        end < span end, for a place rather than a piece); 0 for none."""
        for weight, starts, ends in self.weights:
            index = bisect.bisect_right(starts, start)
            if index and (ends[index - 1] > end if inside else ends[index - 1] >= end):
                return weight
        return 0


SENTENCE_MARKS = re.compile(r"[.!?] |[\n\u3002]")  # what ends a sentence or line, for weighing
WEIGH_WINDOW = 1000  # characters of a sentence, each side of a match, that the words around it are read in


class TextIndex:
    """The places in one text that weighing its matches needs - paragraph breaks, sentence ends, quoted
    and code spans - found once, and whether each paragraph discusses injection, found once per paragraph:
    weighing a match costs O(log n) instead of a search back and forth through its paragraph (which made
    a long paragraph full of matches quadratic)."""

    def __init__(self, text):
        self.text = text
        self._regions = None
        self.breaks = [match.start() for match in re.finditer(r"(?=\n\n)", text)]
        self.marks = ([], [])  # starts of ". ", "! ", "? " and of "\n", "\u3002"
        for match in SENTENCE_MARKS.finditer(text):
            self.marks[len(match.group(0)) == 1].append(match.start())
        self.newlines = [index for index in self.marks[1] if text[index] == "\n"]
        self.discussion = {}

    def line_start(self, position):
        """text.rfind("\n", 0, position) + 1."""
        index = bisect.bisect_left(self.newlines, position) - 1
        return self.newlines[index] + 1 if index >= 0 else 0

    @property
    def regions(self):
        """Regions of the text's quotes and code (found when first asked for)."""
        if self._regions is None:
            self._regions = Regions(_regions(self.text))
        return self._regions

    def _break_before(self, position):
        """text.rfind("\n\n", 0, position)."""
        index = bisect.bisect_right(self.breaks, position - 2) - 1
        return self.breaks[index] if index >= 0 else -1

    def paragraphs(self, start, end):
        """(from, to): the paragraph of text[start:end] and the one before it (where "for example:" or a
        heading stands)."""
        before = self._break_before(max(self._break_before(start), 0))
        after = bisect.bisect_left(self.breaks, end)
        return max(before, 0), self.breaks[after] if after < len(self.breaks) else len(self.text)

    def sentence(self, start, end):
        """(from, to) of the sentence (or line) around text[start:end], its end mark included."""
        left = max([marks[bisect.bisect_right(marks, start - width) - 1]
                    for width, marks in ((2, self.marks[0]), (1, self.marks[1]))
                    if bisect.bisect_right(marks, start - width)] + [-1]) + 1
        rights = [marks[bisect.bisect_left(marks, end)] for marks in self.marks if bisect.bisect_left(marks, end) < len(marks)]
        return left, min(rights) + 1 if rights else len(self.text)

    def lead(self, start):
        """The text between the start of the sentence or line of a match at `start` and the match (its
        last WEIGH_WINDOW characters)."""
        left = max([marks[bisect.bisect_right(marks, start - width) - 1] + width - 1
                    for width, marks in ((2, self.marks[0]), (1, self.marks[1]))
                    if bisect.bisect_right(marks, start - width)] + [0])
        return self.text[max(left, start - WEIGH_WINDOW):start]

    def discussed(self, start, end, quoted):
        """Whether the paragraphs around text[start:end] discuss injection (strong words; weak ones such
        as "example" too when the match is quoted)."""
        span = self.paragraphs(start, end)
        if span not in self.discussion:
            context = URL.sub(" ", self.text[span[0]:span[1]])
            self.discussion[span] = (bool(DISCUSSION.search(context)), bool(DISCUSSION_WEAK.search(context)))
        strong, weak = self.discussion[span]
        return strong or bool(quoted) and weak


def _lower(severity, steps):
    return SEVERITIES[max(0, SEVERITIES.index(severity) - steps)]


def _weigh(index, start, end, severity, regions=None):
    """Lower the severity of a match in index.text that is quoted, in code (regions: default the
    index's), or discussed rather than addressed."""
    quoted = (index.regions if regions is None else regions).around(start, end)
    discussed = index.discussed(start, end, quoted)
    lead = index.lead(start).strip().strip("*_-#>•").strip()
    imperative = lead == "" or lead.endswith(":") and len(lead) < 40 and not discussed
    steps = quoted
    # Reported speech: "I told my kids to ignore the previous rules" speaks of a third party.
    if REPORTED_SPEECH.search(lead) and not CUE_AI.search(lead):
        steps += 2
    if discussed:
        steps += 1 if imperative and not quoted else 2
    return _lower(severity, steps)


def _negated(index, start, end):
    """A negation shortly before or inside the match, or a German one right after ("niemals weiter")."""
    text = index.text
    lead = text[max(index.sentence(start, end)[0], start - 40):end]
    tail = re.split(r"[.!?\n\u3002]", text[end:end + 30])[0]
    return bool(NEGATION.search(lead) or TRAILING_NEGATION.search(tail))


def human_audience(text):
    """A handout or exercise for people: two different words of games, parties and training."""
    return len({match.group(0).lower() for match in HUMAN_AUDIENCE.finditer(text)}) >= 2


def _excused(rule_id, index, start, end, human):
    """Steps to lower an override or role change that is ordinary human business: a numbered question
    dropped, the writer's own message withdrawn, a contract replacing earlier agreements, a handout
    that gives players a role."""
    text = index.text
    left, right = index.sentence(start, end)
    sentence = text[max(left, start - WEIGH_WINDOW):min(right, end + WEIGH_WINDOW)]
    if CUE_AI.search(sentence) or CUE_MACHINE.search(sentence):
        return 0
    if rule_id.startswith(("override-", "multilingual-override")):
        verb = re.match(r"[^\W\d_]+", text[start:end])
        after = text[start + verb.end():end + 40] if verb else ""
        # "A drop in any table ... the policy": a noun; "(policies drop), and the rules": the phrase ended.
        if OVERRIDE_VERB.fullmatch(verb.group(0) if verb else "") and (re.search(
                r"\b(a|an|the|any|every|each|this|that|no|its|their)\s+$", text[max(0, start - 12):start], re.I)
                or re.match(r"\s*[)\]}]", after)):
            return 2
        if (NUMBERED_PART.match(after) or SELF_CORRECTION.match(after) or BENIGN_IGNORE.match(text[start:end + 40])
                or NUMBERED_PART_CJK.search(text[start:end + 20])):
            return 2
        scope = SCOPED_OBJECT.match(text[end:end + 60])
        if scope and not re.search(r"\b(you|your|all|any|every)\b", text[start:end] + scope.group(0), re.I):
            return 2
        if LEGAL_SUPERSEDE.search(sentence) and LEGAL_OBJECT.search(sentence):
            return 2
    if human and rule_id.startswith(ROLEPLAY_RULES):
        return 2
    return 0


MAX_MATCHES = 100  # findings of one rule in one text; past that, one "match-limit" finding


class Limits:
    """Findings per rule in one text. Past MAX_MATCHES the rule's further matches are not weighed (that
    would cost a document of thousands of them minutes), and one medium "match-limit" finding says so: a
    text of hundreds of injection phrases is suspect itself, and quoted copies cannot hide the one that
    is not quoted."""

    def __init__(self):
        self.counts, self.over = {}, {}

    def take(self, rule_id, offset):
        """Whether a finding of rule_id at offset may be weighed and reported."""
        if self.counts.get(rule_id, 0) >= MAX_MATCHES:
            self.over.setdefault(rule_id, offset)
            return False
        self.counts[rule_id] = self.counts.get(rule_id, 0) + 1
        return True

    def findings(self, text, channel, base_offset):
        return [{"rule": "match-limit:" + rule_id, "severity": "medium", "channel": channel,
                 "offset": base_offset + offset, "snippet": snippet(text, offset, offset + 80), "span": None,
                 "rationale": "More than %d matches of %s in one text: the rest were not weighed." % (
                     MAX_MATCHES, rule_id)} for rule_id, offset in self.over.items()]


def scan_text(text, rules, channel="text", base_offset=0, weigh=True, cues=None, audience=None, joined=True):
    """Rule matches in text as findings (offset relative to the document when base_offset is given).

    weigh: lower matches that are quoted, in code or discussed (visible text); cues: score sentences on
    cue words (default: as weigh); audience: the document speaks to people (game handouts, exercises),
    computed from the text when None; joined: join wrapped lines first."""
    cues = weigh if cues is None else cues
    found = []
    folded = fold(text)
    plain = strip_marks(text)
    if joined:
        folded, plain = unwrap(folded), unwrap(plain)
    human = human_audience(folded) if audience is None else audience
    # Matched in the folded text; also in variants that undo spacing, leetspeak and addresses (only the
    # lines a variant changed). A rule that matches the folded text but not the plain one matched
    # through look-alike letters or invisible characters.
    variants = [(folded, None)]
    lines = folded.split("\n")
    # Leetspeak only in words that mix letters with digits or signs ("1gn0re"), not in "Q3" alone.
    leet = "\n".join(" ".join(word.translate(LEET) if LEET_SIGNS.search(word) and re.search("[A-Za-z]", word)
                              else word for word in line.split(" ")) if LEET_SIGNS.search(line) else line
                     for line in lines)
    for variant, obfuscation in ((despace(folded), "spacing"), (leet, "leetspeak"),
                                 # Dots in addresses end a sentence for the rules' [^.]; each address as one word.
                                 ("\n".join(URL.sub(" URL ", line) for line in lines), "unlinked")):
        if variant != folded:
            variants.append(("\n".join(new if new != old else "" for new, old in zip(variant.split("\n"), lines)),
                             obfuscation))
    searched = {}

    def matches(rule, where):
        """Whether rule matches `where` ("plain", "unhidden" or "folded") anywhere: once per rule."""
        if (rule.id, where) not in searched:
            target = {"plain": lambda: plain, "unhidden": lambda: plain.translate(INVISIBLE),
                      "folded": lambda: folded}[where]()
            searched[rule.id, where] = rule.regex.search(target) is not None
        return searched[rule.id, where]

    seen, found_ids, limits = set(), set(), Limits()
    folded_index = TextIndex(folded)
    for variant, obfuscation in variants:
        index = TextIndex(variant) if obfuscation else folded_index
        key_text = match_key(variant)
        for rule in rules:
            for match in rule.finditer(variant, key_text):
                # One finding per rule and 40 characters of the text; one per rule and variant.
                key = (rule.id, match.start() // 40 if obfuscation is None else -1)
                if key in seen:
                    continue
                # A variant adds what the folded text does not have.
                if obfuscation == "unlinked" and rule.id in found_ids or obfuscation in (
                        "spacing", "leetspeak") and matches(rule, "folded") or not limits.take(rule.id, match.start()):
                    break
                severity, rule_id, negated = rule.severity, rule.id, False
                if obfuscation is None and folded != plain and not matches(rule, "plain"):
                    # look-alike letters, or invisible characters inside the words
                    rule_id = "obfuscation-%s:%s" % ("invisible" if matches(rule, "unhidden") else "homoglyph", rule.id)
                    severity = "high"
                elif obfuscation in ("spacing", "leetspeak"):
                    rule_id = "obfuscation-%s:%s" % (obfuscation, rule.id)
                    severity = "high"
                else:
                    if weigh:  # plain and unlinked text: weighed on the variant's own quotes and code
                        severity = _weigh(index, match.start(), match.end(), severity)
                        severity = _lower(severity, _excused(rule.id, index, match.start(), match.end(), human))
                    negated = rule.negatable and _negated(index, match.start(), match.end())
                    if negated:
                        severity = _lower(severity, 2)
                seen.add(key)
                found_ids.add(rule_id)
                found.append({"rule": rule_id, "severity": severity, "channel": channel,
                              "offset": base_offset + match.start(),
                              "snippet": snippet(variant, match.start(), match.end()),
                              "rationale": rule.rationale, "span": (match.start(), match.end())})
                if negated:
                    found[-1]["negated"] = True
    if cues:
        found += _cue_findings(folded, channel, base_offset, found, weigh, human, limits)
    if weigh:
        found += _tool_calls(folded_index, channel, base_offset, limits)
        found += _package_sources(folded_index, channel, base_offset, limits)
    return found + limits.findings(folded, channel, base_offset)


def _cue_findings(folded, channel, base_offset, found, weigh, human, limits):
    """Sentences with two kinds of cue words (see CUE_AI)."""
    out = []
    # Each address as the word URL, padded to its length: offsets stay those of `found`.
    folded = URL.sub(lambda match: " URL".ljust(len(match.group(0))), folded)
    index = TextIndex(folded)
    key = match_key(folded)
    strong = sorted(finding["offset"] - base_offset for finding in found if SEVERITIES.index(finding["severity"]) >= 2)
    for match in SENTENCE.finditer(folded):
        sentence = match.group(0)
        sentence_key = key[match.start():match.end()] if key is not None else None

        def cue(regex, text=sentence, text_key=sentence_key):
            return fast_search(regex, text, text_key)
        kinds = []
        if (cue(CUE_AI) or cue(CUE_MACHINE)) and cue(CUE_YOU) or VOCATIVE.match(sentence):
            kinds.append("ai")
        unignored = BENIGN_IGNORE.sub(" ", sentence) if cue(BENIGN_IGNORE) else sentence
        if cue(ASKING):
            unignored = IGNORE_ASKER.sub(" ", unignored)
        unignored_key = sentence_key if unignored == sentence else match_key(unignored)
        if cue(CUE_OVERRIDE, unignored, unignored_key) or cue(CUE_PRIORITY, unignored, unignored_key) and cue(
                CUE_SECOND, unignored, unignored_key):
            # "This Agreement supersedes all previous instructions and agreements" replaces paper, not rules.
            if "ai" in kinds or not (cue(LEGAL_SUPERSEDE) and cue(LEGAL_OBJECT)):
                kinds.append("override")
        if cue(CUE_SENSITIVE):
            kinds.append("sensitive")
        # A sentence with a finding of its own (medium or high) says nothing new.
        if len(kinds) < 2 or bisect.bisect_left(strong, match.start()) < bisect.bisect_left(strong, match.end()):
            continue
        if not limits.take("cues", match.start()):
            break
        start = match.start() + len(sentence) - len(sentence.lstrip())
        if weigh:
            # Quoted cues, in a text that discusses injection, are examples.
            first_cue = cue(CUE_OVERRIDE) or cue(CUE_PRIORITY) or cue(CUE_AI) or cue(CUE_MACHINE)
            cue_at = match.start() + first_cue.start()
            quoted = index.regions.around(cue_at, cue_at, inside=True)
            # Three kinds at once is an attack whatever the context says.
            steps = quoted + (2 if len(kinds) < 3 and index.discussed(start, match.end(), quoted) else 0)
            if human and "ai" not in kinds:
                steps += 2
            # "The bot must never reveal API keys" is a rule for the bot, not an attack on it.
            first = min(found_cue.start() for found_cue in (cue(CUE_OVERRIDE), cue(CUE_PRIORITY), cue(CUE_SENSITIVE))
                        if found_cue)
            if len(kinds) == 2 and NEGATION.search(sentence[:first]):
                steps += 2
        else:
            steps = 0
        out.append({"rule": "cues-" + "+".join(kinds), "channel": channel, "offset": base_offset + start,
                    "severity": _lower("high", steps),
                    "snippet": snippet(folded, start, match.end()), "span": (start, match.end()),
                    "rationale": "One sentence that %s." % " and ".join(
                        {"ai": "addresses an AI", "override": "overrides its instructions",
                         "sensitive": "reaches for secrets, data or the user"}[kind] for kind in kinds)})
    return out


def _paragraph_before(text, offset, limit=400):
    """The text of the paragraph before offset and the one before that (the lead-in of a code block)."""
    window = text[max(0, offset - limit):offset]
    parts = re.split(r"\n\s*\n", window)
    return "\n\n".join(parts[-2:]), offset - len("\n\n".join(parts[-2:]))


def _tool_calls(index, channel, base_offset, limits):
    """Tool or function calls with side effects (send e-mail, run a shell command, HTTP request, delete)
    written out for the model: high when the text around tells an assistant or agent to perform them,
    medium when their arguments reach for secrets or pipe to a shell. Tool definitions (JSON schema) and
    calls in plain configuration are not findings."""
    text = index.text
    out = []
    reported = set()
    for match in TOOL_NAME.finditer(text):
        name = match.group(2) or match.group(3)  # quoted (JSON) or bare (YAML)
        words = set(re.split(r"[_.:/ -]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()))
        if not words & SIDE_EFFECT_WORDS:
            continue
        if len(reported) == 2 or not limits.take("tool-call", match.start()):
            break
        brace = text.rfind("{", max(0, match.start() - 200), match.start())
        start = brace if brace >= 0 else index.line_start(match.start())  # the object, or the YAML line
        body = text[match.start():match.end() + 400]
        if TOOL_SCHEMA.search(body[:250]):
            continue
        lead, lead_at = _paragraph_before(text, start)
        address = None
        for candidate in ADDRESSED_CALL.finditer(lead):
            address = candidate
        danger = TOOL_DANGER.search(body)
        if address:
            rule = "tool-call-addressed"
            at, severity = lead_at + address.start(), "high"
            at_end = lead_at + address.end()
            rationale = "A tool call with side effects (%s) that the text tells an assistant or agent to perform."
        elif danger and TOOL_ARGS.search(body):
            rule = "tool-call-dangerous-arguments"
            at, at_end, severity = match.start(), match.end(), "medium"
            rationale = "A tool call with side effects (%s) whose arguments reach for secrets or run fetched code."
        else:
            continue
        if rule in reported:
            continue
        reported.add(rule)
        out.append({"rule": rule, "severity": _weigh(index, at, at_end, severity), "channel": channel,
                    "offset": base_offset + at, "snippet": snippet(text, match.start(), match.end() + 80),
                    "rationale": rationale % name, "span": (match.start(), match.end())})
    return out


INTERNAL_HOST = re.compile(r"\.(internal|local|corp|lan|intranet|home)$")


def _official(host):
    return any(host == official or host.endswith("." + official) for official in OFFICIAL_HOSTS)


def _lookalike(host):
    host = host.lower().rstrip(".")
    return not _official(host) and bool(REGISTRY_BRANDS.search(host)) and not INTERNAL_HOST.search(host)


def _package_sources(index, channel, base_offset, limits):
    """A package index or download source recommended to AI assistants or automated tools (dependency
    confusion through the assistant): high when the host imitates an official registry or the text says
    to use it instead of the official one, medium for another outside host."""
    text = index.text
    prose = None  # the quotes and code of the text but inline code: a flag in backticks is just code
    out = []
    position = 0
    for paragraph in re.split(r"(\n\s*\n)", text):
        at, position = position, position + len(paragraph)
        source = PACKAGE_SOURCE.search(paragraph)
        if not source or not PACKAGE_DIRECTIVE.search(paragraph):
            continue
        ai = re.search(r"(?<!build )(?<!ci )(?<!deploy )\b(ai|a\.i\.|llms?|language models?|assistants?|copilots?|"
                       r"agents?|chat ?bots?|gpt)\b", paragraph, re.I)
        machine = CUE_MACHINE.search(paragraph)
        if not (ai or machine):
            continue
        hosts = [urlsplit(url if "//" in url else "//" + url).hostname or "" for url in re.findall(
            r"https?://[^\s)\"'`>]+|\b(?:[\w-]{1,63}\.){1,8}(?:org|com|net|io|dev|cn|ru|xyz|co|info|top|site|app)\b", paragraph)]
        fakes = [host for host in hosts if _lookalike(host)]
        outside = [host for host in hosts if host and not INTERNAL_HOST.search(host) and not _lookalike(host)
                   and not _official(host)]
        if fakes or REPLACES_OFFICIAL.search(paragraph) and (fakes or outside):
            severity = "high"
        elif outside and ai:
            severity = "medium"
        else:
            continue
        if not limits.take("supply-chain-package-source", at + source.start()):
            break
        if prose is None:
            prose = Regions([span for span in _regions(text) if text[span[0]] != "`"])
        severity = _weigh(index, at + source.start(), at + source.end(), severity, prose)
        out.append({"rule": "supply-chain-package-source", "severity": severity, "channel": channel,
                    "offset": base_offset + at + source.start(), "span": (at + source.start(), at + source.end()),
                    "snippet": snippet(paragraph, source.start(), source.end()),
                    "rationale": "A package index or download source recommended to %s%s." % (
                        "AI assistants" if ai else "automated tools",
                        " (%s imitates an official registry)" % fakes[0] if fakes else "")})
    return out


def _line_of(text, offset):
    return text.count("\n", 0, offset) + 1


TRIVIAL_PIECE = re.compile(r"[\W\d_]*|:?-{2,}:?")


def _reading_views(text):
    """[(channel, offset, view)]: each table read along its rows and down its columns, each list and each
    run of short lines read item after item. A view has one paragraph per pair of neighbouring pieces
    (short pieces, a word per cell, joined first), so an instruction split across cells or items reads
    as one sentence while far-apart cells do not meet."""
    lines = text.split("\n")
    offsets, position = [], 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    groups = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.count("|") >= 2:
            rows = []
            first = index
            while index < len(lines) and lines[index].count("|") >= 2:
                rows.append([cell.strip() for cell in lines[index].strip().strip("|").split("|")])
                index += 1
            width = max(len(row) for row in rows)
            groups.append(("table", offsets[first], [cell for row in rows for cell in row]))
            if width > 1:
                groups.append(("table", offsets[first], [row[column] for column in range(width)
                                                         for row in rows if column < len(row)]))
            continue
        if LIST_ITEM.match(line):
            items, first = [], index
            while index < len(lines):
                item = LIST_ITEM.match(lines[index])
                if item:
                    items.append(item.group(2))
                elif items and re.match(r"^\s{2,}\S", lines[index]):
                    items[-1] += " " + lines[index].strip()
                elif not lines[index].strip() and index + 1 < len(lines) and LIST_ITEM.match(lines[index + 1]):
                    pass
                else:
                    break
                index += 1
            groups.append(("list", offsets[first], items))
            continue
        if line.strip() and len(line.strip()) < 60:
            short, first = [], index
            while (index < len(lines) and lines[index].strip() and len(lines[index].strip()) < 60
                   and lines[index].count("|") < 2 and not LIST_ITEM.match(lines[index])):
                short.append(lines[index].strip())
                index += 1
            if len(short) >= 3:
                groups.append(("lines", offsets[first], short))
            continue
        index += 1
    views = []
    for channel, offset, pieces in groups:
        merged = []
        for piece in (piece for piece in pieces if not TRIVIAL_PIECE.fullmatch(piece)):
            # A word per cell: short pieces are read together first.
            if merged and len(piece) < 16 and len(merged[-1]) < 32:
                merged[-1] += " " + piece
            else:
                merged.append(piece)
        windows, seen = [], set()
        for start in range(len(merged) - 1):
            window = merged[start] + " " + merged[start + 1]
            # a piece that ends its sentence does not go on in the next one
            if window not in seen and not re.search(r"[.!?\u3002]\W*$", merged[start]):
                seen.add(window)
                windows.append(window)
        if windows:
            views.append((channel, offset, "\n\n".join(windows)))
    return views


def _rot13(text):
    return codecs.decode(text, "rot13")


def _english(text):
    return sum(1 for word in re.findall(r"[a-z]+", text.lower()) if word in STOPWORDS)


def _decode_once(raw, rot13=True):
    """Text hidden in base64 (also wrapped over lines), hex, percent-encoding, HTML entities, \\u
    escapes, ROT13 (after a hint, or where the decoded line reads as English and the line does not) and
    zero-width bits, one level deep: [(offset, decoded, encoding)]. Each decoder gives at most about as
    much text as it reads (hinted ROT13 windows do not overlap). rot13=False: not ROT13 (in text that
    was ROT13, where it would give back the cleartext around the run)."""
    text = fold(raw)
    out = []
    blocks = [(match.start(), match.group(1)) for match in B64_BLOCK.finditer(text)]
    for match in B64_WRAPPED.finditer(text):
        blocks.append((match.start(), re.sub(r"[\s>]", "", match.group(0))))
    for offset, block in blocks:
        if block.isdigit() or block.isalpha() and (block.isupper() or block.islower()):  # words, not base64
            continue
        try:
            data = base64.b64decode(block + "=" * (-len(block) % 4), altchars=b"-_" if "-" in block or "_" in block
                                    else None)
        except (binascii.Error, ValueError):
            continue
        out.append((offset, data, "base64"))
    for match in HEX_BLOCK.finditer(text):
        block = match.group(1) or match.group(2).replace("\\x", "")
        out.append((match.start(), binascii.unhexlify(block), "hex"))
    for match in re.finditer(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]){11,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])", text):
        out.append((match.start(), binascii.unhexlify(re.sub(r"[ :]", "", match.group(0))), "hex"))
    for match in re.finditer(r"\S{12,}", text):
        if len(re.findall(r"%[0-9A-Fa-f]{2}", match.group(0))) >= 5:
            out.append((match.start(), unquote_plus(match.group(0)).encode("utf-8", "replace"), "percent-encoding"))
    for match in re.finditer(r"(?:&#x?[0-9A-Fa-f]{2,6};){8,}", text):
        out.append((match.start(), html.unescape(match.group(0)).encode("utf-8", "replace"), "HTML entities"))
    for match in re.finditer(r"(?:\\u[0-9A-Fa-f]{4}){8,}", text):
        out.append((match.start(), match.group(0).encode("ascii").decode("unicode_escape").encode("utf-8", "replace"),
                    "\\u escapes"))
    # After a hint, up to the paragraph's end (at most ROT13_WINDOW characters); a hint inside the window of
    # the one before goes on from where that window ended, so no text is decoded twice.
    hinted, hint_line, counted, decoded_to = set(), 0, 0, 0  # hinted: the numbers of the lines with a hint
    for match in ROT13_HINT.finditer(text) if rot13 else ():
        start = max(match.start(), decoded_to)
        end = text.find("\n\n", match.end() + 1, match.end() + ROT13_WINDOW + 1)
        end = end if end >= 0 else min(len(text), match.end() + ROT13_WINDOW)
        hint_line += text.count("\n", counted, match.start())
        counted = match.start()
        hinted.add(hint_line)
        if end > start:
            out.append((start, _rot13(text[start:end]).encode("utf-8"), "ROT13"))
            decoded_to = end
    position, run, run_at = 0, [], 0
    for number, line in enumerate(text.split("\n") + [""] if rot13 else ()):
        turned = _rot13(line) if len(line) >= 40 and number not in hinted else ""
        english = _english(turned) if turned else 0
        if english >= 4 and english > 2 * _english(line) + 1:
            run_at = position if not run else run_at
            run.append(turned)
        elif run:  # consecutive ROT13 lines are decoded as one block
            out.append((run_at, "\n".join(run).encode("utf-8"), "ROT13"))
            run = []
        position += len(line) + 1
    for match in ZW_BITS.finditer(raw):
        run = match.group(0)
        symbols = sorted(set(run))
        if len(symbols) == 2:
            for zero in symbols:
                bits = "".join("0" if ch == zero else "1" for ch in run)
                data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits) - 7, 8))
                out.append((match.start(), data, "zero-width bits"))
    decoded = []
    for offset, data, encoding in out:
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        printable = sum(1 for ch in value if ch.isprintable() or ch in "\n\t")
        if len(value) >= 12 and printable >= 0.95 * len(value) and sum(ch.isalpha() for ch in value) > len(value) / 2:
            decoded.append((offset, value, encoding))
    return decoded


def decoded_runs(raw, depth=MAX_DECODE_DEPTH, budget=None):
    """(runs, limit): the text hidden in encoded runs of raw, and in encoded runs of that text down to
    `depth` levels (base64 of hex of ...), as [(offset in raw, decoded, encoding)]; outer runs first, and
    the same text once. At most `budget` characters are decoded in all (default: twice raw's length plus
    64 KiB, more than one level of every decoder gives). limit: None, or why something was left undecoded
    (too deep, over the budget) - a document built to exhaust the decoder is itself suspect."""
    budget = 2 * len(raw) + 65536 if budget is None else budget
    runs, seen = [], set()
    level = [(0, raw, "")]
    for level_number in range(depth + 1):
        inner = []
        for offset, text, outer in level:
            for at, value, encoding in _decode_once(text, rot13=not outer.startswith("ROT13")):
                if level_number == depth:
                    return runs, "encoded text nested more than %d levels deep" % depth
                if value in seen:
                    continue
                budget -= len(value)
                if budget < 0:
                    return runs, "more encoded text than the scanner decodes"
                seen.add(value)
                where = offset + at if not outer else offset  # inside a decoded run: the run's place in raw
                label = "%s in %s" % (encoding, outer) if outer else encoding
                runs.append((where, value, label))
                inner.append((where, value, label))
        if not inner:
            break
        level = inner
    return runs, None


def _in_flag(flags, index):
    """Whether text[index] is inside one of flags (FLAG_TAGS spans in order, not overlapping)."""
    at = bisect.bisect_right(flags, (index, float("inf"))) - 1
    return at >= 0 and flags[at][0] <= index < flags[at][1]


def _tag_smuggled(text):
    """(offset, ASCII): what Unicode tag characters outside complete subdivision flags (🏴 + gbeng + cancel)
    carry, and where the first of them is; (None, "") for none."""
    flags = [match.span() for match in FLAG_TAGS.finditer(text)]
    tags = [match.start() for match in TAG_CHAR.finditer(text) if not _in_flag(flags, match.start())]
    ascii_chars = "".join(chr(ord(text[index]) - TAG_RANGE[0]) for index in tags
                          if 0x20 <= ord(text[index]) - TAG_RANGE[0] <= 0x7E)
    return (tags[0] if ascii_chars else None), ascii_chars


def directs_ai(directive, text):
    """Whether HIDDEN_DIRECTIVE or ENCODED_DIRECTIVE is in text (folded, runs of blanks as one: with
    "[^.!?\\n]{0,20}[:,]?[ \\t]*[^.!?\\n]{0,60}" between the words, as before, a comment of "ai ai ai ..."
    backtracked 2 400 ways from each "ai", five seconds for 20 KB)."""
    return directive.search(re.sub(r"[ \t]+", " ", fold(text))) is not None


def _external(url):
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def scan_document(text, kind, rules, decode=True):
    """Findings of one document's text (kind: text, markdown, html, pdf, docx). decode=False leaves out the
    decoding of encoded runs (base64, hex, percent-encoding, ROT13, ...) and the scan of what they hide."""
    findings = []

    def add(rule, severity, offset, piece, rationale, channel):
        findings.append({"rule": rule, "severity": severity, "channel": channel, "offset": offset,
                         "snippet": snippet(piece, 0, len(piece)), "rationale": rationale, "span": None})

    visible = text
    hidden_parts = []
    if kind == "html":
        parser = HtmlText()
        try:
            parser.read(text)
        except Exception:  # pylint: disable=broad-except
            pass
        visible = html.unescape("".join(parser.visible))
        hidden_parts += [("hidden-element", part) for part in parser.hidden if part.strip()]
        hidden_parts += [("attribute", part) for part in parser.attributes if part.strip()]
    comments = html_comments(text)
    hidden_parts += [("comment", body) for _start, _end, body in comments]
    links = md_links(text)
    if kind in ("markdown", "text"):
        for match in MD_REF_COMMENT.finditer(text):
            hidden_parts.append(("comment", match.group(2)))
        visible = _replace_spans(visible, [(start, end, " ") for start, end, _body in comments])
        # Markdown image alt text and link titles are read by models, seldom by people.
        for _start, _end, image, label, _target, title in links:
            if image and label.strip():
                hidden_parts.append(("attribute", label))
            if title:
                hidden_parts.append(("attribute", title))

    human = human_audience(visible)
    findings += scan_text(visible, rules, "text", audience=human)

    # Tables, lists and short lines in reading order: an instruction split across cells or items.
    known = {finding["rule"] for finding in findings}
    for channel, offset, view in _reading_views(visible):
        for finding in scan_text(view, rules, channel, audience=human, joined=False):
            if finding["rule"] in known or SEVERITIES.index(finding["severity"]) < 2:
                continue
            known.add(finding["rule"])
            finding["rule"] = "split-%s:%s" % (channel, finding["rule"])
            where = {"table": "table cells", "list": "list items", "lines": "short lines"}[channel]
            finding["rationale"] = "Read across %s: %s" % (where, finding["rationale"])
            finding["offset"] = offset
            findings.append(finding)

    for channel, part in hidden_parts:
        part = html.unescape(part)
        hits = scan_text(part, rules, channel, weigh=False)
        hits = [finding for finding in hits if not finding.pop("negated", False)]  # advice, not an order
        for finding in hits:
            finding["rule"] = "hidden-%s:%s" % (channel, finding["rule"])
            finding["severity"] = "high"
            finding["offset"] = max(0, text.find(part[:40]))
            findings.append(finding)
        if not hits and channel != "attribute" and directs_ai(HIDDEN_DIRECTIVE, part):
            add("hidden-%s:directive" % channel, "high", max(0, text.find(part[:40])), part,
                "Hidden text that directs a model.", channel)
    hidden_text = " ".join(part for channel, part in hidden_parts if channel == "hidden-element")
    if len(hidden_text.strip()) > 40 and not any(f["rule"].startswith("hidden-hidden-element") for f in findings):
        add("hidden-element-text", "medium" if HIDDEN_MODEL_WORDS.search(hidden_text) else "low", 0,
            hidden_text.strip(), "Text a browser does not show.", "hidden-element")

    # Invisible and direction-changing characters (emoji joiners, flags and joiners inside Persian or
    # Indic words are spelling).
    offset, smuggled = _tag_smuggled(text)
    if smuggled:
        add("hidden-unicode-tags", "high", offset, smuggled,
            "Unicode tag characters carry invisible ASCII (ASCII smuggling).", "unicode-tags")
    invisible = [match.start() for match in ZERO_WIDTH_CHAR.finditer(text) if not _legit_invisible(text, match.start())]
    if invisible:
        add("hidden-zero-width", "medium" if len(invisible) >= 3 else "low", invisible[0],
            text[max(0, invisible[0] - 30):invisible[0] + 60],
            "%d zero-width characters: hidden separators or smuggled text." % len(invisible), "zero-width")
    override = BIDI_OVERRIDE_CHAR.search(text)
    if override:
        add("hidden-bidi-override", "high", override.start(), text[max(0, override.start() - 30):override.start() + 60],
            "Bidi override characters make the shown order differ from the read order (Trojan Source).", "bidi")

    # Exfiltration lures: links and images that carry data to another host.
    for start, end, image, _label, url, _title in links:
        query = unquote(urlsplit(url).query) if _external(url) else ""
        if query and (PLACEHOLDER.search(query) or image and DATA_WORDS.search(query)):
            add("exfil-markdown-%s" % ("image" if image else "link"), "high" if image else "medium", start,
                text[start:end], "An external %s whose query carries data or placeholders for it." % (
                    "image (fetched without a click)" if image else "link"), "markdown")
    if kind == "html":
        for match in img_sources(text):
            url = html.unescape(match.group(1))
            query = unquote(urlsplit(url).query) if _external(url) else ""
            if query and (PLACEHOLDER.search(query) or DATA_WORDS.search(query)):
                add("exfil-html-image", "high", match.start(), match.group(0),
                    "An external image whose query carries data or placeholders for it.", "html")

    # Encoded payloads that decode to instructions.
    if decode:
        runs, limit = decoded_runs(text)
        reported = set()
        for offset, decoded, encoding in runs:
            hits = [hit["rule"] for hit in scan_text(decoded, rules, "encoded", weigh=False, cues=True)
                    if not hit.get("negated") and hit["severity"] != "low"]
            if not hits and directs_ai(ENCODED_DIRECTIVE, decoded):
                hits = ["directive"]
            if hits and hits[0] not in reported:
                reported.add(hits[0])
                add("encoded-instructions:" + hits[0], "high", offset, decoded,
                    "A %s block that decodes to instructions." % encoding, "encoded")
        if limit:
            add("encoded-limit", "medium", runs[-1][0] if runs else 0, runs[-1][1] if runs else "",
                "Not all of it was decoded: %s." % limit, "encoded")
    for finding in findings:
        finding.pop("span", None)
        finding.pop("negated", None)
    return findings


def _legit_invisible(text, index):
    """Invisible characters that are spelling: a leading BOM, soft hyphens, ZWJ in emoji sequences, ZWNJ
    and ZWJ between letters of joining or Indic scripts (Persian می‌خواهم, Hindi क्‍ष)."""
    ch = text[index]
    if ch == "\u00ad" or ch == "\ufeff" and index == 0 or ch == "\u200d" and _emoji_joiner(text, index):
        return True
    if ch in "\u200c\u200d\u180e":
        before = text[index - 1] if index > 0 else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        return all(before and after and any(low <= ord(side) <= high for low, high in JOINING_SCRIPTS)
                   for side in (before, after))
    return False


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
        text = html.unescape("".join(HtmlText().read(text).visible))
    text = _replace_spans(text, [(start, end, "") for start, end, _body in html_comments(text)])
    text = MD_REF_COMMENT.sub("", text)
    # Hidden characters go; emoji joiners, flags and joiners inside Persian or Indic words stay.
    flags = [match.span() for match in FLAG_TAGS.finditer(text)]
    text = HIDDEN_CHAR.sub(lambda match: match.group(0) if (
        match.group(0) in ZERO_WIDTH and _legit_invisible(text, match.start())
        or TAG_CHAR.match(match.group(0)) and _in_flag(flags, match.start())) else "", text)
    text = unicodedata.normalize("NFKC", CONFUSABLE_WORD.sub(lambda match: _unconfuse(match.group(0)), text))
    for finding in flagged(findings, fail_on):
        piece = finding["snippet"]
        if finding["channel"] == "text" and piece and piece in text:
            text = text.replace(piece, "[removed by llmsec rag_ingest_guard: %s]" % finding["rule"])
    text = _replace_spans(text, [(start, end, "[%s](removed link)" % label)
                                 for start, end, _image, label, url, _title in md_links(text)
                                 if _external(url) and urlsplit(url).query])
    # A copy every writer can encode: half a surrogate pair (PDF text extraction hands some over) becomes "?".
    return text.encode("utf-8", "replace").decode("utf-8")


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
