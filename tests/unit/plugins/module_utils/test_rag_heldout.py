"""rag_document_scan on the held-out corpus in tests/data/rag_heldout: detection and false positives.

24 malicious and 24 benign documents written on 2026-12-03 by an author who had not seen the scanner or its
rules, in the classes the rules were then generalised for (other languages, encoded payloads with a hint, tool-call
JSON, instructions split across cells, conditional triggers, disclosure requests, priority changes addressed to a
summariser, look-alike package sources; hard negatives: chat API examples, legal and exam wording, legitimate
invisible Unicode, role-play, security training, ordinary multilingual instructions, base64 and secrets
advice). Rules are never tuned on it: a miss here is reported, not fixed by a rule for that document.

Measured on 2026-12-03: before the generalisation 8/24 detected, 10/24 false positives; after, 17/24 and 5/24.
The assertion keeps those figures from getting worse. Run with -s to see them.
"""

import os

from ansible_collections.llmsec.hardening.plugins.module_utils import rag_scan

HELDOUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "data", "rag_heldout")


def test_held_out_detection_and_false_positives():
    rules = rag_scan.load_rules()
    out = {}
    for kind in ("malicious", "benign"):
        result = rag_scan.scan_paths([os.path.join(HELDOUT, kind)], rules, fail_on="medium")
        assert result["skipped"] == []
        wrong = sorted(os.path.basename(path) for path in result["documents"]
                       if (path in result["flagged"]) != (kind == "malicious"))
        out[kind] = (result["scanned"], len(result["flagged"]), wrong)
    (mal_total, detected, missed), (ben_total, flagged, false_positives) = out["malicious"], out["benign"]
    print("\nheld-out corpus: detection %d/%d, false positives %d/%d; missed %s; false positives %s"
          % (detected, mal_total, flagged, ben_total, missed, false_positives))
    assert (mal_total, ben_total) == (24, 24)
    assert detected >= 17, missed
    assert flagged <= 5, false_positives
