"""rag_document_scan on the held-out corpus in tests/data/rag_heldout: detection and false positives.

30 malicious and 30 benign documents written on 2026-12-03 by authors who had not seen the scanner or its
rules (24 + 24, then 6 + 6 more so that the held-out part is a third of the documents written for #25), in the
classes the rules were then generalised for (other languages, encoded payloads with a hint, tool-call
JSON, instructions split across cells, conditional triggers, disclosure requests, priority changes addressed to a
summariser, look-alike package sources; hard negatives: chat API examples, legal and exam wording, legitimate
invisible Unicode, role-play, security training, ordinary multilingual instructions, base64 and secrets
advice). Rules are never tuned on it: a miss here is reported, not fixed by a rule for that document.

Measured on 2026-12-03: before the generalisation (1.0's scanner) 10/30 detected, 11/30 false positives; after,
20/30 and 7/30 (on the first 24 + 24: 8 -> 17 and 10 -> 5; the last 6 + 6, written after the rules: 3/6 and
2/6). The assertion keeps those figures from getting worse. Run with -s to see them.
"""

import os

from .test_rag_corpus import rates

HELDOUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "data", "rag_heldout")


def test_held_out_detection_and_false_positives():
    out = rates(HELDOUT)
    (mal_total, detected, missed), (ben_total, flagged, false_positives) = out["malicious"][:3], out["benign"][:3]
    print("\nheld-out corpus: detection %d/%d, false positives %d/%d; missed %s; false positives %s"
          % (detected, mal_total, flagged, ben_total, missed, false_positives))
    assert (mal_total, ben_total) == (30, 30)
    assert detected >= 20, missed
    assert flagged <= 7, false_positives
