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
characters removed). The hidden-text, exfiltration and encoding checks are
code in rag_scan.py; they re-run these rules on the text they uncover.
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
    \b(you are now|you're now)\s+(an?\b|the\b|in\b|my\b|our\b|called|named|free|unrestricted|unfiltered|no longer|acting|operating|jailbroken|
    a different|[a-z]*(gpt|bot|ai)\b|dan\b)|\b(from now on|from this point on|henceforth),?\s+(you|the (assistant|ai|model|bot))\s+(are|will|
    must|shall|should|have to)\s+(act|behave|respond|answer|reply|only|always|never|ignore|be\b|pretend|obey|follow|tell|say|refuse|comply|
    forward|send|recommend|speak|write|output)|\b(you will now act|you have been (re)?programmed|your new (role|identity|persona|name|task|goal|
    objective|purpose|instructions?) (is|are)|your only (task|goal|job|purpose|objective) (is|now)|your (real|true|actual) (task|goal|
    instructions?) (is|are))\b
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
    \b(if you are|attention|note to|note for|message for|message to|instructions for|dear|hey|to the|ps for|p\.s\. for)\s+(an? |the )?(ai|
    a\.i\.|llm|large language model|language model|chatbot|assistant|ai assistant|ai model|gpt|chatgpt|claude|llama|gemini|copilot|
    model reading this|bot)\b
- id: address-ai-colon
  severity: high
  rationale: A line or sentence addressed to an AI, as "AI assistant:" or "LLM:".
  pattern: |-
    (^|[.!?]\s+)\s*(dear |hey |hi |attention,? |note to (the )?)?(ai (assistant|model|agent|bot|recruiter|reader|summari[sz]er|system)s?|llms?|
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
- id: exfil-reveal-secrets
  severity: high
  rationale: Asks the model to disclose its prompt, keys or private data.
  pattern: |-
    \b(reveal|print|output|repeat|show|leak|disclose|dump|display|return|send|tell me|give me|share|expose|list)\b[^.!?\n]{0,30}\b(your|the|all|
    any)\b[^.!?\n]{0,20}\b(system prompt|initial prompt|hidden prompt|original prompt|instructions|prompt verbatim|api[ _-]?keys?|secret keys?|
    passwords?|credentials|access tokens?|private keys?|environment variables|conversation history|chat history|previous messages)
- id: exfil-send-data
  severity: high
  rationale: Asks the model to move data out (to a URL, an address, a webhook).
  pattern: |-
    \b(send|forward|email|e-mail|post|upload|exfiltrate|transmit|submit|copy|leak|report)\b[^.!?\n]{0,50}\b(conversation|chat|history|
    transcript|messages|data|credentials|secrets?|tokens?|keys?|personal information|pii|user'?s? (data|details|information|emails?)|contents?|
    contact (details|information|info)|customer'?s?'? (data|details|records|list|information|contact details)|personal (data|
    details))\b[^.!?\n]{0,40}\b(to|at|via)\b\s*(https?://|www\.|[\w.+-]+@[\w-]+\.|this (url|address|link|endpoint|webhook)|the (following|
    attacker)|our server|my server)
- id: exfil-build-url
  severity: high
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
  rationale: Steers the model to promote a link or product to the user.
  pattern: |-
    \b(tell|inform|advise|instruct|urge|convince|persuade|recommend to|direct)\s+(the user|users|the reader|them)\b[^.!?\n]{0,60}\b(visit|click|
    go to|download|install|log in|sign in|enter|call|buy|transfer|pay)\b
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
    ^\s*#{2,4}\s*(instruction|system|response|system prompt|new instruction)s?\s*:?\s*$
- id: template-role-line
  severity: medium
  rationale: A line that poses as a system or developer turn of a conversation.
  pattern: |-
    ^\s*\**\s*(system|developer|system prompt|sys)\s*\**\s*:\s*(you\b|the (assistant|model|ai|bot|llm)\b|ai\b|assistant\b|new\b|ignore|
    disregard|forget|always\b|never\b|from now|respond|answer|override|do not|don't|reveal|print)
- id: multilingual-override
  severity: high
  rationale: The override in other languages.
  pattern: |-
    \b(ignoriere|ignorieren sie|vergiss|vergessen sie)\b[^.!?\n]{0,40}\b(anweisungen|vorgaben|regeln|instruktionen)|\b(ignora|ignorez|olvida|
    oublie|oubliez|ignorar|ignorer|ignoriere)\b[^.!?\n]{0,40}\b(instrucciones|instructions|consignes|instrucoes|istruzioni)|\b(忽略|无视|
    忘记)[^。\n]{0,20}(指令|指示|说明)
"""
