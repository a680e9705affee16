# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""The default rule set of rag_document_scan, as YAML (data, not code).

It lives in a module_utils file so that Ansible ships it with the module to
the host. Users add rules with the module's `rules` option (a YAML file of
the same shape). Each rule: id, severity (high, medium, low), rationale, and
`pattern` (a Python regex; a multi-line pattern is joined with each line's
leading and trailing blanks removed; matched case-insensitively against the document's
text after normalization: NFKC, confusable letters folded to ASCII, invisible
characters removed, accents dropped - the pattern is folded the same way, so
"précédentes" and "precedentes" are one word, and a Russian "й" matches "и").
Optional `negatable: true`: a negation before or inside the match ("never reveal
API keys", "Geben Sie Ihr Passwort niemals weiter") lowers it to low - for rules
whose words are also the words of security advice. The hidden-text,
exfiltration, encoding, tool-call and package-source checks are code in
rag_scan.py; they re-run these rules on the text they uncover.
"""

DEFAULT_RULES = r"""
- id: override-ignore-previous
  severity: high
  rationale: The classic indirect injection - tell the model to drop what it was told before.
  pattern: |-
    \b(ignore|disregard|forget|override|overrule|bypass|skip|neglect|abandon|drop|discard|set aside|throw out|pay no attention to)\b
    [^.!?\n]{0,40}?\b(all|any|every|the|your|my|these|those|previous|prior|above|earlier|preceding|initial|original|former|system|developer|
    existing|old)\b
    [^.!?\n]{0,30}?\b(instructions?|directions?|directives?|rules|guidelines|guardrails|prompts?|context|constraints|commands?|polic(y|ies)|
    messages?|programming|restrictions|safety|tasks?|rubric|criteria|guidance|training|everything you (were|have been) told)\b
- id: override-everything-told
  severity: high
  rationale: The override without the word "instructions" - drop what you were told.
  pattern: |-
    \b(ignore|disregard|forget|set aside|put aside|throw away|discard|drop|erase|wipe)\b[^.!?\n]{0,20}?\b(everything|anything|all|what|
    whatever)\b[^.!?\n]{0,10}?\b(you('ve| have| were| had)?( been)?|you'?re)\s+(told|given|instructed|taught|asked|programmed|trained)
- id: override-ignore-above
  severity: high
  rationale: The short form - "ignore the above".
  pattern: |-
    \b(ignore|disregard|forget)\s+(all\s+(of\s+)?)?(the|everything|anything|what'?s?|what is)\s+(above|before|said above|written above|preceding)\b
- id: override-void
  severity: high
  rationale: Declares the model's instructions void.
  pattern: |-
    \b(previous|prior|earlier|above|original|initial|all|your|system|existing)\s+(instructions?|guidelines|rules|directives?|prompts?|policies|
    constraints)\s+(are|is|have been|were|got)\s+(now\s+)?(void|null|cancel+ed|revoked|obsolete|invalid|overridden|suspended|lifted|disabled|
    deleted|no longer (valid|apply|in effect|active))
- id: address-ai-must
  severity: low
  rationale: Tells the AI in the third person what it must do.
  pattern: |-
    \b(the|this|any|every)\s+(chat ?bot|assistant|ai( assistant| model| system| agent)?|llm|language model|bot|agent|summari[sz]er|
    model reading this)\s+(must|should|shall|will|is to|has to|needs to|is required to|is instructed to)\b[^.!?\n]{0,40}\b(tell|say|answer|
    respond|reply|recommend|state|claim|inform|output|include|mention|ignore|never|always|from now|from this point|instead|reveal|forward|
    send)\b
- id: override-do-not-follow
  severity: high
  rationale: Tells the model to stop following its real instructions.
  pattern: |-
    \b(do not|don't|never|stop|no longer)\s+(follow\w*|obey\w*|comply\w* with|adher\w* to|listen\w* to|
    respect\w*)\b[^.!?\n]{0,30}\b(instructions?|rules|guidelines|system prompt|prompt|policy|policies|developer|operator)
- id: override-new-instructions
  severity: high
  rationale: Announces replacement instructions for the model.
  pattern: |-
    \b(new|updated|revised|real|actual|true|override|priority|secret|hidden|additional)\s+(system\s+)?(instructions?|directives?|orders|task|
    objective|prompt)\s*(:|are\b|is\b|follow\b|from\b)
- id: override-prompt-update
  severity: high
  rationale: Announces a change to the model's prompt or rules.
  pattern: |-
    \b(system prompt|prompt|instructions?|rules?|polic(y|ies)|guidelines|configuration)\s+(update|change|override|reset|patch)\s*:|\b(updating|
    changing|modifying|resetting|rewriting|replacing)\s+your\s+(rules|instructions|guidelines|programming|settings|configuration|prompt|
    directives|behaviou?r)\b|\byour (earlier|previous|prior|original|old|initial|current) (configuration|instructions|rules|guidelines|settings|
    programming|prompt|directives)\b[^.!?\n]{0,20}\b(no longer|do(es)? not|don't) (appl\w*|matter|count|stand|hold)
- id: authority-claim
  severity: high
  rationale: Claims to be the model's developer or operator to gain authority.
  pattern: |-
    \b(as|i am|i'm|this is)\s+your\s+(developer|creator|programmer|admin|administrator|operator|owner|maker|system administrator|trainer)\b
- id: role-restrictions-lifted
  severity: high
  rationale: Tells the model its restrictions are gone.
  pattern: |-
    \byou (no longer|don't|do not) have (any )?(content |safety |ethical )?(restrictions|limits|limitations|filters|guidelines|rules)|
    \byou (are|have been) (now )?(freed|released|unlocked|jailbroken|liberated)\b|\b(restrictions|filters|safety (rules|filters|guidelines)|
    guardrails) (are |have been )?(removed|lifted|disabled|turned off|deactivated)\b
- id: override-system-override
  severity: high
  rationale: Claims authority to change the model's behaviour.
  pattern: |-
    \b(system|admin|administrator|developer|root|sudo|maintenance|debug|god)\s*(override|mode\s+(enabled|activated|on)|access\s+granted|command)\b
- id: role-you-are-now
  severity: high
  rationale: Re-assigns the model's identity or role.
  pattern: |-
    \b(you are now|you're now)\s+(?!(an?\s+|the\s+)?(member|subscriber|customer|registered|subscribed|logged|signed|enrolled|
    connected|eligible|ready|able|all set|part of|on the list|in the queue)\b)(an?\b|the\b|in\b|my\b|our\b|called|named|free|
    unrestricted|unfiltered|no longer|acting|operating|jailbroken|
    a different|[a-z]*(gpt|bot|ai)\b|dan\b)|\b(from now on|from this point on|henceforth),?\s+(you|the (assistant|ai|model|bot))\s+(are|will|
    must|shall|should|have to)\s+(act|behave|respond|answer|reply|only|always|never|ignore|be\b|pretend|obey|follow|tell|say|refuse|comply|
    forward|send|recommend|speak|write|output)|\b(you will now act|you have been (re)?programmed|your new (role|identity|persona|name|task|goal|
    objective|purpose|instructions?) (is|are)|your only (task|goal|job|purpose|objective) (is|now)|your (real|true|actual) (task|goal|
    instructions?) (is|are))\b|\byou('re| are)\s+(the|an?)\s+(\w+[ -]){0,3}(assistant|bot|chatbot|agent|model|ai|persona)\s+now\b
- id: role-act-as-unrestricted
  severity: high
  rationale: Jailbreak personas and "no restrictions" framing.
  pattern: |-
    \b(act|behave|respond|pretend|roleplay|role-play)\b[^.!?\n]{0,30}\b(as|like|to be)\b[^.!?\n]{0,40}\b(unrestricted|unfiltered|uncensored|
    jailbroken|without (any )?(restrictions|limits|filters|rules|guidelines)|DAN|evil|no longer bound)
- id: role-jailbreak-terms
  severity: high
  rationale: Well-known jailbreak handles.
  pattern: |-
    \b(DAN mode|do anything now|developer mode (enabled|output)|jailbreak mode|AIM mode|STAN mode|evil confidant)\b
- id: address-the-model
  severity: high
  rationale: Text that speaks to the AI reading the document, not to the human reader.
  pattern: |-
    \b(if you are|attention|note to|note for|message for|message to|instructions for|dear|hey|to the|ps for|p\.s\. for|
    heads[- ]up (for|to)|reminder (for|to)|notice (for|to)|fyi,?)\s+(an? |the |any )?(((autonomous|coding|code|software|
    automated|virtual|digital|ai|llm|gpt|llm-based|ai-powered|summari[sz]ation|summary|research|browsing)[ -]){1,2}(agent|
    assistant|model|bot)|(ai|a\.i\.|llm|large language model|language model|chatbot|assistant|ai assistant|ai model|gpt|
    chatgpt|claude|llama|gemini|copilot|model reading this|bot|summari[sz]er))\b(?!\s+(team|department|desk|role|position|
    vacancy|job))
- id: address-ai-colon
  severity: high
  rationale: A line or sentence addressed to an AI, as "AI assistant:" or "LLM:".
  pattern: |-
    (^[ \t]*|[.!?]\s+)(dear |hey |hi |attention,? |note to (the )?)?(ai (assistant|model|agent|bot|recruiter|reader|summari[sz]er|system)s?|llms?|
    chatgpt|claude|gemini|copilot|assistant reading this|model reading this)\s*:|\b(ai|llm|model|assistant|chatbot|bot|gpt)\s+(instructions?|
    note|notice|directive|message|prompt|override)\s*:
- id: address-while-summarizing
  severity: high
  rationale: Tells an automated summarizer or answerer what to state.
  pattern: |-
    \b(when|while|if|before)\s+(summari[sz]ing|answering|responding|processing|reading|analy[sz]ing|indexing|
    retrieving)\b[^.!?\n]{0,40},?\s*(state|say|claim|write|answer|respond|tell|mention|include|add|output|assert|conclude|report)\b
- id: address-when-processing
  severity: high
  rationale: Conditions aimed at an automated reader (summarizer, RAG pipeline).
  pattern: |-
    \b(when|while|if|once|before|after)\s+(you|the (ai|assistant|model|llm|bot|chatbot|agent|summari[sz]er|system))\s+(are\s+)?(read|reads|
    reading|summari[sz]e|summari[sz]es|summari[sz]ing|process|processes|processing|analy[sz]e|analy[sz]ing|see|sees|encounter|parse|parsing|
    retrieve|retrieving|answer|answering|index|indexing)\b[^.!?\n]{0,40}\b(this|these|the following|the above|document|page|text|file|email|
    content)
- id: exfil-reveal-prompt
  severity: high
  negatable: true
  rationale: Asks the model to disclose its system prompt or hidden instructions (an order, a "should", or a
    description of what the assistant does, as in a FAQ answer).
  pattern: |-
    (^|[.!?:;,]\s*|\b(please|must|should|shall|will|always|now|first|then|and|also|kindly|is to|are to|needs to|has to|
    have to|(configured|set up|designed|programmed|supposed|meant|expected|instructed|required|built) to)\s+|
    \b(assistants?|ai|models?|bots?|chatbots?|agents?|llms?|copilots?|gpt|it)\s+(always\s+|then\s+|also\s+|first\s+)?)
    (reveal\w*|print\w*|output\w*|repeat\w*|recit\w*|show\w*|leak\w*|disclos\w*|dump\w*|display\w*|shar(e|es|ing)|expos\w*|
    lists?|listing|include\w*|append\w*|paste\w*|echo\w*|quot(e|es|ing)|spell\w* out|write\w* out|tell me|give me|send\w*|
    provid\w*)\b[^.!?\n]{0,40}?\b(your|its|the|all|any|their|full|entire|complete|whole|exact)\b[^.!?\n]{0,25}?
    \b(system prompts?|initial (prompt|instructions)|hidden (prompts?|instructions|rules)|secret instructions|
    internal instructions|original (prompt|instructions)|developer (message|prompt|instructions)|pre-?prompts?|
    (your|its) (instructions|prompt|rules|guidelines|directives|configuration)|prompt verbatim|instructions verbatim|
    (complete|full|entire|exact|whole) (instructions|prompt|configuration|setup|guidelines)|
    (text|words|everything) (above|before) this (line|point|message))\b
- id: exfil-reveal-secrets
  severity: high
  negatable: true
  rationale: Asks the model to disclose keys, passwords, environment variables or other users' data - in its
    answers, or with the AI named as the one to do it (a runbook that prints variables for an admin is not).
  pattern: |-
    \b(assistants?|ai|a\.i\.|models?|bots?|chatbots?|agents?|llms?|copilots?|gpt|summari[sz]ers?)\b[^.!?\n]{0,80}?
    \b(reveal\w*|print\w*|output\w*|repeat\w*|show\w*|leak\w*|disclos\w*|dump\w*|display\w*|shar(e|es|ing)|expos\w*|lists?|
    include\w*|append\w*|paste\w*|echo\w*|send\w*|forward\w*|tell me|give me|provid\w*)\b[^.!?\n]{0,60}?(?<!my )(?<!our )
    \b(api[ _-]?keys?|secret keys?|passwords?|credentials|access tokens?|tokens|private keys?|environment variables|env vars|
    connection strings?|conversation history|chat history|previous messages|other users'? (data|messages|conversations))\b|
    \b(reveal\w*|print\w*|output\w*|show\w*|leak\w*|disclos\w*|dump\w*|display\w*|shar(e|es|ing)|expos\w*|lists?|include\w*|
    append\w*|paste\w*|echo\w*|tell me|give me)\b[^.!?\n]{0,40}?(?<!my )(?<!our )\b(api[ _-]?keys?|secret keys?|passwords?|credentials|
    access tokens?|tokens|private keys?|environment variables|env vars|conversation history|chat history|previous messages)
    \b[^.!?\n]{0,60}\b(you (hold|have|can see|know|were given|have access to|can access|store)|available to you|
    in (your|the|each|every|its) (answer|reply|response|summary|output|message)s?|to (the user|the reader|whoever|anyone|
    everyone))\b|
    \b(every|each|all|your|the|its)\s+(answers?|repl(y|ies)|responses?|summar(y|ies)|outputs?)\b[^.!?\n]{0,40}?
    \b(should|must|shall|will|to|always)\b[^.!?\n]{0,20}?\b(end|start|begin|include|contain|list|show|carry|repeat|append|quote|
    close)\w*\b[^.!?\n]{0,60}?(\b(api[ _-]?keys?|secrets?|passwords?|credentials|tokens?|environment variables|system prompt|
    hidden instructions)\b|_KEY\b|_TOKEN\b|_SECRET\b|_PASSWORD\b)
- id: exfil-send-data
  severity: high
  negatable: true
  rationale: Asks the model to move data out (to a URL, an address, a webhook).
  pattern: |-
    \b(send|forward|email|e-mail|post|upload|exfiltrate|transmit|submit|copy|leak|report)\b[^.!?\n]{0,50}\b(conversation|chat|history|
    transcript|messages|data|credentials|secrets?|tokens?|keys?|personal information|pii|user'?s? (data|details|information|emails?)|contents?|
    contact (details|information|info)|customer'?s?'? (data|details|records|list|information|contact details)|personal (data|
    details))\b[^.!?\n]{0,40}\b(to|at|via)\b\s*(https?://|www\.|[\w.+-]+@[\w-]+\.|this (url|address|link|endpoint|webhook)|the (following|
    attacker)|our server|my server)
- id: exfil-build-url
  severity: high
  negatable: true
  rationale: Asks the model to encode data into a link or image address.
  pattern: |-
    \b(append|add|include|insert|encode|embed|put|place|concatenate)\b[^.!?\n]{0,60}\b(to|into|in|as)\b[^.!?\n]{0,20}\b(the\s+)?(url|link|
    query string|query parameter|image (url|link|source)|markdown image|src|href)
- id: deceive-hide-from-user
  severity: high
  rationale: Asks the model to keep its actions from the user.
  pattern: |-
    \b(do not|don't|never|without)\s+(tell|telling|inform|informing|mention|mentioning|notify|notifying|alert|alerting|reveal|revealing|
    let)\b[^.!?\n]{0,20}\b(the user|users|the human|the reader|anyone|them)\b
- id: output-forced-response
  severity: medium
  rationale: Dictates the model's answer regardless of the question.
  pattern: |-
    \b(respond|reply|answer|say|output|print|write)\s+(only|exactly|solely|nothing but|with only|with exactly|verbatim)\b[^.!?\n]{0,10}("|'|:|
    the (word|phrase|text|following))
- id: output-recommend-lure
  severity: medium
  negatable: true
  rationale: Steers the model to send the user somewhere - to visit, download, log in or pay ("tell them to ...").
  pattern: |-
    \b(tell|inform|advise|instruct|urge|convince|persuade|recommend to|direct)\s+(the user|users|the reader|them)\b[^.!?\n]{0,60}
    \b(to|that (they|he|she|you) (must|should|need to|have to|can only))\s+(\w+\s+)?(visit|click|go to|download|install|log in|
    sign in|enter|call|buy|transfer|pay)\b
- id: template-chatml
  severity: high
  rationale: Chat-template control tokens let text pose as a system or assistant turn.
  pattern: |-
    <\|\s*(im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\s*\|>
- id: template-llama
  severity: high
  rationale: Llama/Mistral instruction markers.
  pattern: |-
    (\[/?INST\]|<<\s*/?SYS\s*>>|\[/?SYSTEM_PROMPT\]|</?s>\s*\[INST\])
- id: template-alpaca
  severity: medium
  rationale: Alpaca-style headers that fake an instruction turn.
  pattern: |-
    ^[ \t]*#{2,4}[ \t]*(instruction|system|response|system prompt|new instruction)s?[ \t]*:?[ \t]*$
- id: template-role-line
  severity: medium
  rationale: A line that poses as a system or developer turn of a conversation.
  pattern: |-
    ^[ \t]*(\*+[ \t]*)?(system|developer|system prompt|sys)[ \t]*\**[ \t]*:\s*(you\b|the (assistant|model|ai|bot|llm)\b|ai\b|assistant\b|new\b|ignore|
    disregard|forget|always\b|never\b|from now|respond|answer|override|do not|don't|reveal|print)
- id: conditional-trigger-ai
  severity: high
  rationale: A trigger planted for later - when a user asks about something, the assistant is to answer a set
    way (a support script for human staff names no AI).
  pattern: |-
    \b(if|when|whenever|should|once|in case|every time|each time|any ?time)\s+(the\s+|a\s+|an\s+|any\s+|some\s+)?(users?|
    customers?|visitors?|clients?|readers?|callers?|someone|somebody|anyone|anybody|people|prospects?|candidates?|employees?|
    a person|the human)\s+(\w+\s+){0,2}?(asks?|asked|asking|inquires?|enquires?|enquire|inquire|wants? to know|questions?|
    queries|mentions?|requests?|brings? up|searches?|types?|raises?|wonders?)\b[^.!?\n]{0,120}?\b(assistants?|ai|a\.i\.|
    models?|bots?|chatbots?|agents?|llms?|copilots?|gpt)\b[^.!?\n]{0,40}?\b(answer|say|tell|reply|respond|recommend|state|
    claim|insist|inform|direct|point|suggest|mention|assert|confirm|explain|describe|warn)\b
- id: conditional-trigger-user
  severity: medium
  rationale: A trigger on what "the user" asks, followed by an order to answer that something is so - the
    shape of an instruction to an assistant.
  pattern: |-
    \b(if|when|whenever|should|once|in case)\s+(the|a|any)\s+users?\s+(\w+\s+){0,2}?(asks?|asked|inquires?|enquires?|
    enquire|inquire|wants? to know|questions?|mentions?|requests?|brings? up|raises?)\b[^.!?\n]{0,120}?[,;:]\s*(then\s+)?
    (you\s+(should|must|will|shall|need to|have to)\s+)?(always\s+)?(answer|say|reply|respond|state|claim|insist|assert|
    confirm|tell (them|him|her|the user))\b[^.!?\n]{0,15}?\bthat\b
- id: encoded-decode-and-follow
  severity: high
  rationale: Asks the reader to decode a block and act on what it says - the hint that comes with an encoded
    payload.
  pattern: |-
    \b(decode|decipher|decrypt|unscramble|un-?rot|rot13|base64[ -]decode|unhex)\w*\b[^.!?\n]{0,80}?\b(and|then|before|,)\s+
    (\w+\s+){0,2}?((follow|obey|act on|carry out|comply with|execute|perform|implement)\s+(it|them|this|these|that|
    what it says|whatever it says|the (result|decoded \w+|message|note|text|instructions?|commands?|content)s?)\b|
    do (what|as) it says|(apply|use|treat) (it|them|this|that|the (result|decoded \w+|text)) as (your|its|their|an?|the)\s+
    (\w+\s+){0,2}?(instructions?|rules?|prompt|task|orders|directives?))
- id: address-automated-reader
  severity: high
  rationale: A line addressed to whatever program reads the text ("For the tool that condenses these minutes:") -
    people are not addressed by what they compute.
  pattern: |-
    (^|[.!?]\s+|\b(note|message|instructions?|reminder|memo|attention|hint|p\.?s\.?)\s+)(for|to)\s+(the|any|every|each|
    whichever|whatever|all)\s+(\w+\s+){0,2}?(tools?|systems?|programs?|software|services?|pipelines?|processes|engines?|
    readers?|crawlers?|indexers?|scripts?|agents?|bots?|assistants?|models?|summari[sz]ers?)\s*,?\s+(that|which|who|
    reading|processing|summari[sz]ing|condensing|indexing|ingesting|parsing|producing|generating|digesting)\b[^.!?\n:]{0,80}:|
    (^|[.!?]\s+|\b(note|message|instructions?|reminder|memo|attention|hint)\s+)(for|to)\s+(the\s+|any\s+|all\s+)?
    (automated|automatic|machine)\s+(\w+\s+)?(readers?|tools?|systems?|summari[sz]ers?|note-?takers?|processors?|agents?|
    assistants?|pipelines?)\b[^.!?\n:]{0,60}:
- id: multilingual-override
  severity: high
  rationale: The override in other languages (German, Spanish, French, Portuguese, Italian, Russian, Chinese).
  pattern: |-
    \b(ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte|missachten sie|verwirf)\b[^.!?\n]{0,50}
    \b(anweisung\w*|vorgabe\w*|regeln|instruktion\w*|richtlinie\w*|befehl\w*|systemprompt\w*|was (man )?dir)\b|
    \b(deine|ihre|alle|die)\s+(bisherigen|vorherigen|fruheren|ursprunglichen|alten)\s+(anweisungen|vorgaben|regeln|
    instruktionen|richtlinien)\b[^.!?\n]{0,30}\b(gelten|sind)\s+(ab sofort\s+|ab jetzt\s+|jetzt\s+|nun\s+)?(nicht mehr|
    ungultig|aufgehoben|hinfallig)|
    \b(ignora|ignorez|ignorer|ignorar|olvida|olvide|olviden|oublie|oubliez|ignoriere|descarta|descartez)\b
    [^.!?\n]{0,40}\b(instrucciones|instructions|consignes|instrucoes|istruzioni|indicaciones|directives|reglas|regles)|
    \bignore\s+(toutes|tous|tes|les|vos)\b[^.!?\n]{0,40}\b(instructions|consignes|regles|directives)|
    \bne (tenez|tiens) plus compte\b[^.!?\n]{0,30}\b(consignes|instructions|regles|directives)|
    \b(игнорируй|игнорируйте|игнорировать|забудь|забудьте|не обращай\w* внимания на)\b[^.!?\n]{0,40}
    \b(инструкц\w*|правил\w*|указани\w*|промпт\w*|настройк\w*|установк\w*)|
    (忽略|无视|忘记|忘掉|不要理会)[^。\n]{0,20}(指令|指示|说明|规则|设定|提示词|要求)
- id: multilingual-role
  severity: high
  rationale: Re-assigns the model's role or identity, in German, Spanish, French, Russian or Chinese.
  pattern: |-
    \b(du bist (jetzt|ab sofort|ab jetzt|nun|von nun an)|ab (sofort|jetzt) bist du|von nun an bist du|
    deine neue (rolle|aufgabe|identitat) (ist|lautet))\b(?!\s+(angemeldet|registriert|eingeloggt|mitglied|abonniert|verbunden|
    dabei)\b)|
    \b((a partir de ahora|desde ahora|ahora),?\s+eres|eres ahora|tu nuevo (rol|papel|trabajo) es)\b(?!\s+(miembro|socio|
    cliente|parte)\b)|
    \b((a partir de maintenant|desormais|dorenavant|maintenant),?\s+(tu es|vous etes)|(tu es|vous etes) (maintenant|desormais)|
    (ton|votre) nouveau role est)\b(?!\s+(inscrit\w*|connecte\w*|abonne\w*|membre\w*|enregistre\w*)\b)|
    \b((теперь|отныне|с этого момента),?\s+(ты|вы)|(ты|вы) теперь)\b(?!\s+(\w*(те|шь|ся|сь)|можно|сможете|можете|
    зарегистрирован\w*|подписан\w*|участник\w*|член\w*)\b)|
    从现在(开始|起)[，,]?\s*你(是|就是|将|要|扮演)|你现在是一个|你的新(角色|身份|任务)是
- id: multilingual-address-model
  severity: high
  rationale: Text that speaks to the AI reading the document, in German, Spanish, French, Russian or Chinese.
  pattern: |-
    \b(liebe|lieber|hallo|hey|an die|an den|an das|hinweis (an|fur) (die|den|das)|nachricht (an|fur) (die|den|das)|achtung)\s+
    (ki|k\.i\.|ki-assistent\w*|ki-modell\w*|ki-system\w*|sprachmodell\w*|chatbot|ki-bot)\b|
    \b(nota para|mensaje para|atencion|querid[oa]|hola|instrucciones para|aviso para)\s+(el\s+|la\s+)?(ia|asistente de ia|
    asistente virtual|asistente|modelo de lenguaje|chatbot|bot)\b|
    \b(a l'attention de|note pour|message pour|cher|chere|bonjour|instructions pour|avis pour)\s+(l'|le\s+|la\s+)?(ia|
    assistant ia|assistant virtuel|assistant|modele de langage|chatbot|bot|agent conversationnel)\b|
    \b(примечание|сообщение|внимание|заметка|инструкция|указание|обращение)\s+(для|к)\s+(ии|ии-ассистента|ассистента|бота|
    чат-бота|модели|нейросети)\b|
    (致|给|提醒)(AI|人工智能|助手|AI助手|模型|大模型|机器人|聊天机器人)|
    \b(an|fur)\s+(das|den|die|jedes|jeden|jede)\s+(werkzeug|tool|programm|system|modell|sprachmodell|software)\s*,\s*(das|der|
    die|welches|welcher|welche)\b[^.!?\n:]{0,80}:|
    \b(para|a)\s+(la|el|cualquier)\s+(herramienta|sistema|programa|modelo|ia)\s+que\b[^.!?\n:]{0,80}:|
    \b(pour|a)\s+(l'|le\s+|la\s+|tout\s+|toute\s+)(outil|systeme|programme|logiciel|modele|ia)\s+qui\b[^.!?\n:]{0,80}:
- id: multilingual-disclosure
  severity: high
  negatable: true
  rationale: Asks the model to disclose its prompt (or, with the AI named, keys and passwords) in German,
    Spanish, French, Russian or Chinese.
  pattern: |-
    \b(gib|gibt|geben|zeig|zeige|zeigt|zeigen|nenn|nenne|nennt|verrat|verrate|offenbare|liste|listet|teile|teilt|wiederhole|
    wiederholt)\b[^.!?\n]{0,60}?(systemprompt\w*|system-prompt\w*|systemanweisung\w*|(versteckt|geheim|intern|ursprunglich|
    anfanglich)\w* (anweisung|vorgabe|instruktion)\w*|deine (anweisungen|vorgaben|instruktionen))|
    \b(ki|assistent\w*|bot|chatbot|sprachmodell|du)\b[^.!?\n]{0,60}?\b(gib|gibt|geben|zeig\w*|nenn\w*|verrat\w*|offenbar\w*|
    list\w*|teil\w*|wiederhol\w*|ausgeben|auszugeben)\b[^.!?\n]{0,60}?(api-schlussel\w*|api-keys?|zugangsdaten|passwort\w*|
    passworter|kennwort\w*|umgebungsvariable\w*)|
    \b(revela|revele|muestra|muestre|imprime|imprima|dime|comparte|comparta|ensena|enumera|repite|repita|escribe|incluye|
    incluya|proporciona)\b[^.!?\n]{0,60}?\b(prompt (del|de) sistema|instrucciones (del sistema|ocultas|originales|iniciales|
    internas|secretas)|tus instrucciones)|
    \b(ia|asistente|bot|chatbot|modelo)\b[^.!?\n]{0,60}?\b(revel|muestr|imprim|compart|enumer|repit|escrib|inclu|proporcion)\w*
    \b[^.!?\n]{0,60}?\b(claves? (de )?api|contrasenas?|credenciales|variables de entorno)|
    \b(revele|revelez|affiche|affichez|montre|montrez|imprime|imprimez|donne|donnez|partage|partagez|liste|listez|repete|
    repetez|ecris|ecrivez|inclus|incluez|communique|communiquez|recopie|recopiez)\b[^.!?\n]{0,60}?\b(prompt systeme|
    invite systeme|instructions (systeme|cachees|initiales|internes|secretes|d'origine)|consignes (initiales|cachees|
    internes|secretes|systeme)|vos (consignes|instructions)|tes (consignes|instructions))|
    \b(ia|assistant|bot|chatbot|modele)\b[^.!?\n]{0,60}?\b(revel|affich|montr|imprim|donn|partag|list|repet|ecri|inclu|
    communiqu)\w*\b[^.!?\n]{0,60}?\b(cles? d'?api|mots? de passe|identifiants|variables d'environnement)|
    \b(покажи|покажите|показать|выведи|выведите|вывести|раскрой|раскройте|раскрыть|сообщи|сообщите|перечисли|перечислите|
    перечислить|назови|назовите|повтори|повторите|напиши|напишите)\b[^.!?\n]{0,60}?(системн\w* (промпт|подсказк|инструкц)\w*|
    скрыт\w* инструкц\w*|исходн\w* инструкц\w*|сво\w* инструкц\w*)|
    \b(ии|бот|ассистент|модель|чат-бот)\w*\b[^.!?\n]{0,60}?\b(покаж|вывед|вывест|раскр|сообщ|перечисл|назов|повтор|напиш)\w*
    \b[^.!?\n]{0,60}?(ключ\w* api|api[- ]ключ\w*|парол\w*|учетн\w* данн\w*|переменн\w* окружения)|
    (输出|显示|打印|告诉|透露|泄露|公开|列出|给出|说出|重复|展示)[^。\n]{0,20}(系统提示词|提示词|初始指令|隐藏指令|系统指令|
    内部指令|你的指令)|
    (AI|助手|机器人|模型)[^。\n]{0,30}(输出|显示|打印|告诉|透露|泄露|公开|列出|给出|说出|提供|发送)[^。\n]{0,20}(API ?密钥|
    密钥|密码|凭证|环境变量|令牌)
- id: multilingual-exfiltration
  severity: high
  negatable: true
  rationale: Asks the model to send conversation, contact or account data to an address, in German, Spanish,
    French, Russian or Chinese.
  pattern: |-
    \b(leite|leiten sie|sende|senden sie|schicke|schick|schicken sie|ubermittle|ubermitteln sie)\b[^.!?\n]{0,80}?
    \b(\w*verlauf\w*|daten|kontaktdaten|passwort\w*|zugangsdaten|nachrichten|e-mails?|unterhaltung)\b[^.!?\n]{0,60}?
    \b(an|nach|zu)\s+(die\s+(adresse|e-mail-adresse)\s+)?(\S+@|https?://|URL\b)|
    \b(envia|envie|reenvia|reenvie|manda|mande|transmite|remite)\b[^.!?\n]{0,80}?\b(historial|datos|conversacion|
    contrasenas?|credenciales|mensajes|correos)\b[^.!?\n]{0,60}?\b(a|al|hacia)\s+(la\s+direccion\s+)?(\S+@|https?://|URL\b)|
    \b(envoie|envoyez|transmets|transmettez|transfere|transferez|fais suivre|faites suivre)\b[^.!?\n]{0,80}?\b(historique|
    donnees|coordonnees|conversation|mots? de passe|identifiants|messages|adresse)\b[^.!?\n]{0,60}?\b(a|au|vers)\s+
    (l'adresse\s+)?(\S+@|
    https?://|URL\b)|
    \b(отправь|отправьте|перешли|перешлите|передай|передайте)\b[^.!?\n]{0,80}?(истори\w*|данн\w*|парол\w*|сообщени\w*|
    переписк\w*|адрес\w*)[^.!?\n]{0,60}?\b(на|в|по)\s+(адрес\w*\s+|почту\s+)?(\S+@|https?://|URL\b)|
    (把|将)[^。\n]{0,30}(聊天记录|对话|数据|密码|邮箱地址|邮箱|个人信息|历史记录)[^。\n]{0,30}(发送|转发|上传|发)(到|至|给)\s*
    (https?://|URL|[\w.+-]+@)|
    (发送|转发|上传)[^。\n]{0,40}(聊天记录|对话记录|密码|个人信息|历史记录)[^。\n]{0,20}(到|至|给)\s*(https?://|URL|[\w.+-]+@)
- id: multilingual-conditional
  severity: medium
  rationale: A planted trigger in German, Spanish, French, Russian or Chinese - when the user asks about
    something, answer that it is so (informal or AI-addressed forms; a script for staff uses the formal ones).
  pattern: |-
    \b(wenn|falls|sobald)\s+(ein|eine|der|die|jemand)\s*(nutzer\w*|benutzer\w*|anwender\w*|user)?\s+(\w+\s+){0,6}?(fragt|
    nachfragt|wissen will|erwahnt|anfragt)\b[^.!?\n]{0,80}?\b(antworte|sage|sag|behaupte|empfiehl|erklare|soll\w* (\w+\s+)?
    (antworten|sagen|behaupten|empfehlen))\b[^.!?\n]{0,40}?\bdass\b|
    \bsi\s+(el|un|una|algun|cualquier)\s+(usuario|cliente|visitante|persona)\w*\s+(pregunta|consulta|quiere saber|menciona|
    pide|solicita)\b[^.!?\n]{0,100}?\b(responde|contesta|di|dile|diles|afirma|asegura|debe (responder|decir|contestar|
    afirmar|asegurar))\b[^.!?\n]{0,30}?\bque\b|
    \bsi\s+(un|une|l'|le|la|quelqu'un)\s*(utilisateur|utilisatrice|client|cliente|visiteur|internaute)?\w*\s+(demande|pose|
    veut savoir|mentionne|interroge|cherche)\b[^.!?\n]{0,100}?\b(reponds|dis|affirme|doit (repondre|dire|affirmer))\b
    [^.!?\n]{0,30}?\bque\b|
    \b(если|когда)\s+(пользователь|клиент|кто-то|кто-нибудь|посетитель)\w*\s+(\w+\s+){0,2}?(спросит|спрашивает|
    интересуется|попросит|упомянет)\b[^.!?\n]{0,80}?\b(ответь|отвечай|скажи|говори|сообщи|утверждай)\b[^.!?\n]{0,30}?\bчто\b|
    (如果|当|若|一旦)(用户|有人)[^。\n]{0,20}(问|询问|咨询|提到)[^。\n]{0,40}(回答|回复|声称)[^。\n]{0,4}(说|称)
"""
