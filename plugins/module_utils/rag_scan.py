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
URL = re.compile(r"\b(https?://|www\.)\S+|\b[\w.+-]+@[\w-]+(\.[\w-]+)+|\b[\w-]+(\.[\w-]+)*\.(?!(ya?ml|json|py|md|txt|"
                 r"html?|sh|cfg|conf|toml|ini|log|csv|xml|js|ts|css|pdf|docx?|xlsx?|png|jpe?g|gif|svg|zip|gz|tar|j2|rst|"
                 r"lock|service|timer|socket|env|pem|crt|key|tf|go|rs|rb|java|sql)\b)[A-Za-z]{2,6}\b(/\S*)?")
HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*(0|0?\.\d+|[01])(px|pt|em|rem|%)?\s*(;|$)|"
    r"opacity\s*:\s*0(\.0+)?\s*(;|$)|color\s*:\s*(#fff\b|#ffffff\b|white\b|rgba?\(\s*255\s*,\s*255\s*,\s*255)|"
    r"(left|top|text-indent)\s*:\s*-\d{3,}|clip\s*:\s*rect\(0|height\s*:\s*0(px)?\s*;\s*overflow\s*:\s*hidden|"
    r"transform\s*:\s*scale\(0\)", re.I)
VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
MD_LINK = re.compile(r"(!?)\[([^\]]{0,300})\]\(\s*<?([^)\s>]+)>?(?:\s+\"([^\"]*)\")?\s*\)")
MD_REF_COMMENT = re.compile(r"^[ \t]*\[(//|comment|_)\]:[ \t]*#[ \t]*[(\"'](.*)[)\"'][ \t]*$", re.I | re.M)
HTML_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
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
DIRECTIVE_TO_AI = (
    r"\b(assistant|ai|llm|chatbot|bot|gpt|model|summari[sz]er|agent)\b[^.!?\n]{0,20}[:,]?[ \t]*[^.!?\n]{0,60}"
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


def strip_marks(text):
    """NFKC, then accents and other combining marks removed (what fold does, without confusables)."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


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
    r"readers?|crawlers?|indexers?|note-?takers?|scribes?)\s*,?\s+(that|which)\s+(\w+\s+){0,2}?(condens|summar|"
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
    r"\b(инструмент\w*|систем\w*|программ\w*)\s*,?\s*(котор\w+)\s+(\w+\s+){0,2}?(обобща|резюмир|обрабатыва|чита|"
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
    r"without telling|access denied|session (has )?expired|email address(es)?|context window|"
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
ROLEPLAY_RULES = ("role-", "override-", "multilingual-override", "multilingual-role", "cues-")
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
    r"(^|[.!?:]\s+)(call|invoke|execute|run|issue|perform|emit|trigger)\s+(this|the following|these|the next)?\s*"
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
FLAG_TAGS = re.compile("\U0001F3F4[\U000E0061-\U000E007A]{2}[\U000E0030-\U000E0039\U000E0061-\U000E007A]{1,5}\U000E007F")
ZW_BITS = re.compile("[\u200b\u200c\u200d\u2060]{16,}")


class ScanError(Exception):
    pass


class Rule:
    """One text rule. `negatable: true` marks advice-shaped rules: a negation before or inside the match
    ("never reveal API keys") lowers it to low. Patterns are folded like the text (accents dropped)."""
    __slots__ = ("id", "severity", "rationale", "regex", "negatable")

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
        text = re.sub(r"[^\W\d_]+", lambda match: _unconfuse(match.group(0)) if not CONFUSABLES.keys().isdisjoint(
            match.group(0)) else match.group(0), text)
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
        self.stack = []

    def _hidden(self):
        return any(hidden for _tag, hidden in self.stack)

    def _mark(self, text):
        if not self._hidden():
            self.visible.append(text)

    def _in(self, tag):
        return any(name == tag for name, _hidden in self.stack)

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
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break
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


def _sentence(text, start, end):
    """(context, lead): the paragraph of the match and the one before it (where "for example:" or a
    heading stands), and the text between the start of the match's sentence or line and the match."""
    paragraph = text.rfind("\n\n", 0, start)
    before = text.rfind("\n\n", 0, max(paragraph, 0))
    after = text.find("\n\n", end)
    context = text[max(before, 0):after if after >= 0 else len(text)]
    left = max(max(text.rfind(mark, 0, start) + len(mark) - 1 for mark in (". ", "! ", "? ", "\n", "\u3002")), 0)
    return context, text[left:start]


def _sentence_of(text, start, end):
    """The whole sentence (or line) around text[start:end]."""
    left = max(text.rfind(mark, 0, start) for mark in (". ", "! ", "? ", "\n", "\u3002")) + 1
    rights = [index for index in (text.find(mark, end) for mark in (". ", "! ", "? ", "\n", "\u3002")) if index >= 0]
    return text[max(left, 0):min(rights) + 1 if rights else len(text)]


def _lower(severity, steps):
    return SEVERITIES[max(0, SEVERITIES.index(severity) - steps)]


def _discussed(context, quoted):
    context = URL.sub(" ", context)
    return bool(DISCUSSION.search(context) or quoted and DISCUSSION_WEAK.search(context))


def _weigh(text, start, end, severity, regions):
    """Lower the severity of a match that is quoted, in code, or discussed rather than addressed."""
    quoted = max([weight for a, b, weight in regions if a <= start and end <= b] or [0])
    context, lead = _sentence(text, start, end)
    discussed = _discussed(context, quoted)
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


def _negated(text, start, end):
    """A negation shortly before or inside the match, or a German one right after ("niemals weiter")."""
    sentence_start = max(text.rfind(mark, 0, start) for mark in (". ", "! ", "? ", "\n", "\u3002")) + 1
    lead = text[max(sentence_start, start - 40):end]
    tail = re.split(r"[.!?\n\u3002]", text[end:end + 30])[0]
    return bool(NEGATION.search(lead) or TRAILING_NEGATION.search(tail))


def human_audience(text):
    """A handout or exercise for people: two different words of games, parties and training."""
    return len({match.group(0).lower() for match in HUMAN_AUDIENCE.finditer(text)}) >= 2


def _excused(rule_id, text, start, end, human):
    """Steps to lower an override or role change that is ordinary human business: a numbered question
    dropped, the writer's own message withdrawn, a contract replacing earlier agreements, a handout
    that gives players a role."""
    sentence = _sentence_of(text, start, end)
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
    variants = [(folded, None)]
    if folded != plain:
        variants[0] = (folded, "homoglyph")
    unhidden = plain.translate(INVISIBLE)
    lines = folded.split("\n")
    # Leetspeak only in words that mix letters with digits or signs ("1gn0re"), not in "Q3" alone.
    leet = "\n".join(" ".join(word.translate(LEET) if LEET_SIGNS.search(word) and re.search("[A-Za-z]", word)
                              else word for word in line.split(" ")) if LEET_SIGNS.search(line) else line
                     for line in lines)
    for variant, obfuscation in ((despace(folded), "spacing"), (leet, "leetspeak"),
                                 # Dots in addresses end a sentence for the rules' [^.]; each address as one word.
                                 ("\n".join(URL.sub(" URL ", line) for line in lines), "unlinked")):
        if variant != folded:
            # Only the lines the variant changed are matched again.
            variants.append(("\n".join(new if new != old else "" for new, old in zip(variant.split("\n"), lines)),
                             obfuscation))
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
                if obfuscation == "homoglyph" and not rule.regex.search(plain):
                    # look-alike letters, or invisible characters inside the words
                    rule_id = "obfuscation-%s:%s" % ("invisible" if rule.regex.search(unhidden) else "homoglyph", rule.id)
                    severity = "high"
                elif obfuscation == "unlinked" and any(f["rule"] == rule.id for f in found):
                    continue
                elif obfuscation in ("spacing", "leetspeak"):
                    if rule.regex.search(folded):
                        continue
                    rule_id = "obfuscation-%s:%s" % (obfuscation, rule.id)
                    severity = "high"
                else:
                    if weigh:  # plain and unlinked text: weighed on the variant's own quotes and code
                        severity = _weigh(variant, match.start(), match.end(), severity, regions)
                        severity = _lower(severity, _excused(rule.id, variant, match.start(), match.end(), human))
                    negated = rule.negatable and _negated(variant, match.start(), match.end())
                    if negated:
                        severity = _lower(severity, 2)
                seen.add(key)
                found.append({"rule": rule_id, "severity": severity, "channel": channel,
                              "offset": base_offset + match.start(),
                              "snippet": snippet(variant, match.start(), match.end()),
                              "rationale": rule.rationale, "span": (match.start(), match.end())})
                if obfuscation not in ("homoglyph", "spacing", "leetspeak") and negated:
                    found[-1]["negated"] = True
    if cues:
        found += _cue_findings(folded, channel, base_offset, found, weigh, human)
    if weigh:
        regions = _regions(folded)
        found += _tool_calls(folded, channel, base_offset, regions)
        found += _package_sources(folded, channel, base_offset, regions)
    return found


def _cue_findings(folded, channel, base_offset, found, weigh, human):
    """Sentences with two kinds of cue words (see CUE_AI)."""
    out = []
    folded = URL.sub(" URL ", folded)
    regions = _regions(folded)
    for match in SENTENCE.finditer(folded):
        sentence = match.group(0)
        kinds = []
        if (CUE_AI.search(sentence) or CUE_MACHINE.search(sentence)) and CUE_YOU.search(sentence) or VOCATIVE.match(
                sentence):
            kinds.append("ai")
        unignored = BENIGN_IGNORE.sub(" ", sentence)
        if ASKING.search(sentence):
            unignored = IGNORE_ASKER.sub(" ", unignored)
        if CUE_OVERRIDE.search(unignored) or CUE_PRIORITY.search(unignored) and CUE_SECOND.search(unignored):
            # "This Agreement supersedes all previous instructions and agreements" replaces paper, not rules.
            if "ai" in kinds or not (LEGAL_SUPERSEDE.search(sentence) and LEGAL_OBJECT.search(sentence)):
                kinds.append("override")
        if CUE_SENSITIVE.search(URL.sub(" https:// ", sentence) if "ai" in kinds else sentence):
            kinds.append("sensitive")
        if len(kinds) < 2 or any(f["offset"] - base_offset >= match.start() and f["offset"] - base_offset < match.end()
                                 and SEVERITIES.index(f["severity"]) >= 2 for f in found):
            continue
        start = match.start() + len(sentence) - len(sentence.lstrip())
        if weigh:
            # Quoted cues, in a text that discusses injection, are examples.
            cue = (CUE_OVERRIDE.search(sentence) or CUE_PRIORITY.search(sentence) or CUE_AI.search(sentence)
                   or CUE_MACHINE.search(sentence))
            cue_at = match.start() + cue.start()
            quoted = max([weight for a, b, weight in regions if a <= cue_at < b] or [0])
            context = _sentence(folded, start, match.end())[0]
            # Three kinds at once is an attack whatever the context says.
            steps = quoted + (2 if len(kinds) < 3 and _discussed(context, quoted) else 0)
            if human and "ai" not in kinds:
                steps += 2
            # "The bot must never reveal API keys" is a rule for the bot, not an attack on it.
            first = min(found_cue.start() for found_cue in (CUE_OVERRIDE.search(sentence), CUE_PRIORITY.search(sentence),
                                                            CUE_SENSITIVE.search(sentence)) if found_cue)
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


def _tool_calls(text, channel, base_offset, regions):
    """Tool or function calls with side effects (send e-mail, run a shell command, HTTP request, delete)
    written out for the model: high when the text around tells an assistant or agent to perform them,
    medium when their arguments reach for secrets or pipe to a shell. Tool definitions (JSON schema) and
    calls in plain configuration are not findings."""
    out = []
    reported = set()
    for match in TOOL_NAME.finditer(text):
        name = match.group(2) or match.group(3)  # quoted (JSON) or bare (YAML)
        words = set(re.split(r"[_.:/ -]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()))
        if not words & SIDE_EFFECT_WORDS:
            continue
        brace = text.rfind("{", max(0, match.start() - 200), match.start())
        start = brace if brace >= 0 else text.rfind("\n", 0, match.start()) + 1  # the object, or the YAML line
        body = text[match.start():match.end() + 400]
        if TOOL_SCHEMA.search(body[:250]):
            continue
        lead, lead_at = _paragraph_before(text, start)
        address = None
        for candidate in ADDRESSED_CALL.finditer(lead):
            address = candidate
        danger = TOOL_DANGER.search(body)
        if address:
            at = lead_at + address.start()
            severity = _weigh(text, at, lead_at + address.end(), "high", regions)
            rule, rationale = "tool-call-addressed", ("A tool call with side effects (%s) that the text tells an "
                                                      "assistant or agent to perform." % name)
        elif danger and TOOL_ARGS.search(body):
            at = match.start()
            severity = _weigh(text, match.start(), match.end(), "medium", regions)
            rule, rationale = "tool-call-dangerous-arguments", ("A tool call with side effects (%s) whose arguments "
                                                                "reach for secrets or run fetched code." % name)
        else:
            continue
        if rule in reported:
            continue
        reported.add(rule)
        out.append({"rule": rule, "severity": severity, "channel": channel, "offset": base_offset + at,
                    "snippet": snippet(text, match.start(), match.end() + 80), "rationale": rationale,
                    "span": (match.start(), match.end())})
    return out


def _lookalike(host):
    host = host.lower().rstrip(".")
    if any(host == official or host.endswith("." + official) for official in OFFICIAL_HOSTS):
        return False
    return bool(REGISTRY_BRANDS.search(host)) and not re.search(r"\.(internal|local|corp|lan|intranet|home)$", host)


def _package_sources(text, channel, base_offset, regions):
    """A package index or download source recommended to AI assistants or automated tools (dependency
    confusion through the assistant): high when the host imitates an official registry or the text says
    to use it instead of the official one, medium for another outside host."""
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
            r"https?://[^\s)\"'`>]+|\b(?:[\w-]+\.)+(?:org|com|net|io|dev|cn|ru|xyz|co|info|top|site|app)\b", paragraph)]
        fakes = [host for host in hosts if _lookalike(host)]
        outside = [host for host in hosts if host and not re.search(r"\.(internal|local|corp|lan|intranet|home)$", host)
                   and not _lookalike(host) and not any(host == o or host.endswith("." + o) for o in OFFICIAL_HOSTS)]
        if fakes or REPLACES_OFFICIAL.search(paragraph) and (fakes or outside):
            severity = "high"
        elif outside and ai:
            severity = "medium"
        else:
            continue
        prose = [region for region in regions if text[region[0]] != "`"]  # a flag in backticks is just code
        severity = _weigh(text, at + source.start(), at + source.end(), severity, prose)
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


def _decode_candidates(raw):
    """Text hidden in base64 (also wrapped over lines), hex, percent-encoding, HTML entities, \\u
    escapes, ROT13 (after a hint, or where the decoded line reads as English and the line does not) and
    zero-width bits: [(offset, decoded, encoding)]."""
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
        try:
            out.append((match.start(), binascii.unhexlify(block), "hex"))
        except (binascii.Error, ValueError):
            continue
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
    hinted = set()
    for match in ROT13_HINT.finditer(text):
        end = text.find("\n\n", match.end() + 1)
        end = min(end if end >= 0 else len(text), match.end() + 1200)
        out.append((match.start(), _rot13(text[match.start():end]).encode("utf-8"), "ROT13"))
        hinted.add(text.count("\n", 0, match.start()))
    position, run, run_at = 0, [], 0
    for number, line in enumerate(text.split("\n") + [""]):
        turned = _rot13(line)
        if number not in hinted and len(line) >= 40 and _english(turned) >= 4 and _english(turned) > 2 * _english(line) + 1:
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
            for zero, one in (symbols, symbols[::-1]):
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


def _tag_smuggled(text):
    """ASCII carried by Unicode tag characters, outside complete subdivision flags (🏴 + gbeng + cancel)."""
    text = FLAG_TAGS.sub("", text)
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
        directive = HIDDEN_DIRECTIVE.search(fold(part))
        if not hits and directive and channel != "attribute":
            add("hidden-%s:directive" % channel, "high", max(0, text.find(part[:40])), part,
                "Hidden text that directs a model.", channel)
    hidden_text = " ".join(part for channel, part in hidden_parts if channel == "hidden-element")
    if len(hidden_text.strip()) > 40 and not any(f["rule"].startswith("hidden-hidden-element") for f in findings):
        add("hidden-element-text", "medium" if HIDDEN_MODEL_WORDS.search(hidden_text) else "low", 0,
            hidden_text.strip(), "Text a browser does not show.", "hidden-element")

    # Invisible and direction-changing characters (emoji joiners, flags and joiners inside Persian or
    # Indic words are spelling).
    smuggled = _tag_smuggled(text)
    if smuggled:
        stripped = FLAG_TAGS.sub("", text)
        offset = next(i for i, ch in enumerate(stripped) if TAG_RANGE[0] <= ord(ch) <= TAG_RANGE[1])
        add("hidden-unicode-tags", "high", offset, smuggled,
            "Unicode tag characters carry invisible ASCII (ASCII smuggling).", "unicode-tags")
    invisible = [i for i, ch in enumerate(text) if ch in ZERO_WIDTH and not _legit_invisible(text, i)]
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
    reported = set()
    for offset, decoded, encoding in _decode_candidates(text):
        hits = [hit["rule"] for hit in scan_text(decoded, rules, "encoded", weigh=False, cues=True)
                if not hit.get("negated") and hit["severity"] != "low"]
        if not hits and ENCODED_DIRECTIVE.search(fold(decoded)):
            hits = ["directive"]
        if hits and hits[0] not in reported:
            reported.add(hits[0])
            add("encoded-instructions:" + hits[0], "high", offset, decoded,
                "A %s block that decodes to instructions." % encoding, "encoded")
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
        parser = HtmlText()
        parser.feed(text)
        text = html.unescape("".join(parser.visible))
    text = HTML_COMMENT.sub("", text)
    text = MD_REF_COMMENT.sub("", text)
    # Hidden characters go; emoji joiners, flags and joiners inside Persian or Indic words stay.
    flags = [match.span() for match in FLAG_TAGS.finditer(text)]
    text = "".join(ch for index, ch in enumerate(text)
                   if not (ch in ZERO_WIDTH and not _legit_invisible(text, index) or ch in BIDI_OVERRIDES + BIDI_OTHER
                           or TAG_RANGE[0] <= ord(ch) <= TAG_RANGE[1] and not any(a <= index < b for a, b in flags)))
    text = unicodedata.normalize("NFKC", re.sub(r"[^\W\d_]+", lambda match: _unconfuse(match.group(0)), text))
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
