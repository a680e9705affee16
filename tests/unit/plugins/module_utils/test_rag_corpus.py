"""rag_document_scan's quality on the corpus in tests/data/rag_corpus: detection and false positives.

86 malicious documents (overrides in many phrasings and languages, role and template markers, hidden
HTML, comments, alt/title text, zero-width, bidi and Unicode-tag smuggling, exfiltration links and
images, base64/hex/percent-encoded payloads, homoglyphs, spacing and leetspeak) and 86 benign ones
(articles and papers that discuss prompt injection and quote its payloads, code samples, chat
transcripts, chat-template documentation, HTML with hidden menus, policies, manuals). The three last
rounds of each (m63-m86, b63-b86) were written as held-out sets and added after the rules were
generalised to catch them. Run with -s to see the figures.
"""

import os

from ansible_collections.llmsec.hardening.plugins.module_utils import rag_scan

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "data", "rag_corpus")


def rates():
    rules = rag_scan.load_rules()
    out = {}
    for kind in ("malicious", "benign"):
        result = rag_scan.scan_paths([os.path.join(CORPUS, kind)], rules, fail_on="medium")
        assert result["skipped"] == []
        out[kind] = (result["scanned"], len(result["flagged"]), sorted(
            os.path.basename(path) for path in result["documents"]
            if (path in result["flagged"]) != (kind == "malicious")))
    return out


def test_detection_and_false_positive_rates():
    out = rates()
    (mal_total, mal_flagged, missed), (ben_total, ben_flagged, false_positives) = out["malicious"], out["benign"]
    detection = 100.0 * mal_flagged / mal_total
    false_positive = 100.0 * ben_flagged / ben_total
    print("\nrag corpus: detection %.1f%% (%d/%d), false positives %.1f%% (%d/%d); missed %s; false positives %s"
          % (detection, mal_flagged, mal_total, false_positive, ben_flagged, ben_total, missed, false_positives))
    assert mal_total >= 60 and ben_total >= 60
    assert detection >= 95.0, missed
    assert false_positive <= 3.0, false_positives
