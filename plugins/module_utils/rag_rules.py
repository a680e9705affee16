# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
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
    [^.!?\n]{0,40}?\b(all|any|every|the|your|my|these|those|previous|prior|above|earlier|preceding|initial|original|former|system|developer|existing|old)\b
    [^.!?\n]{0,30}?\b(instructions?|directions?|directives?|rules|guidelines|guardrails|prompts?|context|constraints|commands?|polic(y|ies)|messages?|programming|restrictions|safety|tasks?)\b
- id: override-do-not-follow
  severity: high
  rationale: Tells the model to stop following its real instructions.
  pattern: |-
    \b(do not|don't|never|stop|no longer)\s+(follow|obey|comply with|adhere to|listen to|respect)\b[^.!?\n]{0,30}\b(instructions?|rules|guidelines|system prompt|prompt|policy|policies|developer|operator)
- id: override-new-instructions
  severity: high
  rationale: Announces replacement instructions for the model.
  pattern: |-
    \b(new|updated|revised|real|actual|true|override|priority|secret|hidden|additional)\s+(system\s+)?(instructions?|directives?|orders|task|objective|prompt)\s*(:|are\b|is\b|follow\b|from\b)
- id: override-system-override
  severity: high
  rationale: Claims authority to change the model's behaviour.
  pattern: |-
    \b(system|admin|administrator|developer|root|sudo|maintenance|debug|god)\s*(override|mode\s+(enabled|activated|on)|access\s+granted|command)\b
- id: role-you-are-now
  severity: high
  rationale: Re-assigns the model's identity or role.
  pattern: |-
    \b(you are now|you're now|from now on,? you (are|will|must|shall|should)|you will now act|henceforth,? you|you have been (re)?programmed|your new (role|identity|persona|name|task|goal|objective|purpose|instructions?) (is|are))\b
- id: role-act-as-unrestricted
  severity: high
  rationale: Jailbreak personas and "no restrictions" framing.
  pattern: |-
    \b(act|behave|respond|pretend|roleplay|role-play)\b[^.!?\n]{0,30}\b(as|like|to be)\b[^.!?\n]{0,40}\b(unrestricted|unfiltered|uncensored|jailbroken|without (any )?(restrictions|limits|filters|rules|guidelines)|DAN|evil|no longer bound)
- id: role-jailbreak-terms
  severity: high
  rationale: Well-known jailbreak handles.
  pattern: |-
    \b(DAN mode|do anything now|developer mode (enabled|output)|jailbreak mode|AIM mode|STAN mode|evil confidant)\b
- id: address-the-model
  severity: high
  rationale: Text that speaks to the AI reading the document, not to the human reader.
  pattern: |-
    \b(if you are|attention|note to|message for|instructions for|dear|hey|to the)\s+(an? )?(ai|a\.i\.|llm|large language model|language model|chatbot|assistant|ai assistant|ai model|gpt|chatgpt|claude|llama|gemini|copilot|model reading this|bot)\b
- id: address-when-processing
  severity: high
  rationale: Conditions aimed at an automated reader (summarizer, RAG pipeline).
  pattern: |-
    \b(when|while|if|once|before|after)\s+(you|the (ai|assistant|model|llm|bot|system))\s+(are\s+)?(read|reads|reading|summari[sz]e|summari[sz]es|summari[sz]ing|process|processes|processing|analy[sz]e|analy[sz]ing|see|sees|encounter|parse|parsing|retrieve|retrieving|answer|answering|index|indexing)\b[^.!?\n]{0,40}\b(this|these|the following|the above|document|page|text|file|email|content)
- id: exfil-reveal-secrets
  severity: high
  rationale: Asks the model to disclose its prompt, keys or private data.
  pattern: |-
    \b(reveal|print|output|repeat|show|leak|disclose|dump|display|return|send|tell me|give me|share|expose|list)\b[^.!?\n]{0,30}\b(your|the|all|any)\b[^.!?\n]{0,20}\b(system prompt|initial prompt|hidden prompt|original prompt|instructions|prompt verbatim|api[ _-]?keys?|secret keys?|passwords?|credentials|access tokens?|private keys?|environment variables|conversation history|chat history|previous messages)
- id: exfil-send-data
  severity: high
  rationale: Asks the model to move data out (to a URL, an address, a webhook).
  pattern: |-
    \b(send|forward|email|e-mail|post|upload|exfiltrate|transmit|submit|copy|leak|report)\b[^.!?\n]{0,50}\b(conversation|chat|history|transcript|messages|data|credentials|secrets?|tokens?|keys?|personal information|pii|user'?s? (data|details|information|emails?)|contents?)\b[^.!?\n]{0,40}\b(to|at|via)\b\s*(https?://|www\.|[\w.+-]+@[\w-]+\.|this (url|address|link|endpoint|webhook)|the (following|attacker)|our server|my server)
- id: exfil-build-url
  severity: high
  rationale: Asks the model to encode data into a link or image address.
  pattern: |-
    \b(append|add|include|insert|encode|embed|put|place|concatenate)\b[^.!?\n]{0,60}\b(to|into|in|as)\b[^.!?\n]{0,20}\b(the\s+)?(url|link|query string|query parameter|image (url|link|source)|markdown image|src|href)
- id: deceive-hide-from-user
  severity: high
  rationale: Asks the model to keep its actions from the user.
  pattern: |-
    \b(do not|don't|never|without)\s+(tell|telling|inform|informing|mention|mentioning|notify|notifying|alert|alerting|reveal|revealing|let)\b[^.!?\n]{0,20}\b(the user|users|the human|the reader|anyone|them)\b
- id: output-forced-response
  severity: medium
  rationale: Dictates the model's answer regardless of the question.
  pattern: |-
    \b(respond|reply|answer|say|output|print|write)\s+(only|exactly|solely|nothing but|with only|with exactly|verbatim)\b[^.!?\n]{0,10}("|'|:|the (word|phrase|text|following))
- id: output-recommend-lure
  severity: medium
  rationale: Steers the model to promote a link or product to the user.
  pattern: |-
    \b(tell|inform|advise|instruct|urge|convince|persuade|recommend to|direct)\s+(the user|users|the reader|them)\b[^.!?\n]{0,60}\b(visit|click|go to|download|install|log in|sign in|enter|call|buy|transfer|pay)\b
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
    ^\s*\**\s*(system|developer|system prompt|sys)\s*\**\s*:\s*\S
- id: multilingual-override
  severity: high
  rationale: The override in other languages.
  pattern: |-
    \b(ignoriere|ignorieren sie|vergiss|vergessen sie)\b[^.!?\n]{0,40}\b(anweisungen|vorgaben|regeln|instruktionen)|\b(ignora|ignore|ignorez|olvida|oublie|oubliez|ignorar|ignorer)\b[^.!?\n]{0,40}\b(instrucciones|instructions précédentes|consignes|instruções|istruzioni|instrucoes)|\b(忽略|无视|忘记)[^。\n]{0,20}(指令|指示|说明)
"""
