"""rag_document_scan's quality on the corpus in tests/data/rag_corpus: detection and false positives.

146 malicious documents and 146 benign ones. The first 86 of each: overrides in many phrasings and
languages, role and template markers, hidden HTML, comments, alt/title text, zero-width, bidi and
Unicode-tag smuggling, exfiltration links and images, base64/hex/percent-encoded payloads,
homoglyphs, spacing and leetspeak; against articles and papers that discuss prompt injection and
quote its payloads, code samples, chat transcripts, chat-template documentation, HTML with hidden
menus, policies, manuals. The three last rounds of those (m63-m86, b63-b86) were written as held-out
sets and added after the rules were generalised to catch them.

m87-m146 and b87-b146 are the tuning set for "rules that generalise": business documents (runbooks,
FAQs, minutes, contracts, API docs, wiki pages, e-mails) with instructions in German, Spanish,
French, Chinese and Russian; base64, ROT13, hex and percent-encoded payloads with a hint to decode
them; tool-call JSON and YAML in runbooks; instructions split across table cells and list items;
conditional triggers; disclosure requests phrased as FAQ answers; priority changes addressed to a
summariser; look-alike package indexes recommended to automated tools - against the hard negatives
of each (role markup in API examples, contracts that supersede earlier agreements, worksheets that
drop a question, legitimate invisible Unicode, game and training handouts, support scripts for
people, security advice, internal mirrors). m135-m146 and b135-b146 were written after the rules
and measured before any change for them (6/12 detected, 3/12 false positives), then tuned on.
Run with -s to see the figures.
"""

import os

from ansible_collections.llmsec.hardening.plugins.module_utils import rag_scan

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "data", "rag_corpus")


def rates(corpus=CORPUS):
    """{kind: (scanned, flagged, names of the wrongly judged, all names)} for a corpus's malicious and benign
    documents (test_rag_heldout.py uses it for the held-out corpus)."""
    rules = rag_scan.load_rules()
    out = {}
    for kind in ("malicious", "benign"):
        result = rag_scan.scan_paths([os.path.join(corpus, kind)], rules, fail_on="medium")
        assert result["skipped"] == []
        out[kind] = (result["scanned"], len(result["flagged"]), sorted(
            os.path.basename(path) for path in result["documents"]
            if (path in result["flagged"]) != (kind == "malicious")),
            sorted(os.path.basename(path) for path in result["documents"]))
    return out


def test_detection_and_false_positive_rates():
    out = rates()
    (mal_total, mal_flagged, missed, _mal_new), (ben_total, ben_flagged, false_positives, _ben_new) = (
        out["malicious"], out["benign"])
    detection = 100.0 * mal_flagged / mal_total
    false_positive = 100.0 * ben_flagged / ben_total
    print("\nrag corpus: detection %.1f%% (%d/%d), false positives %.1f%% (%d/%d); missed %s; false positives %s"
          % (detection, mal_flagged, mal_total, false_positive, ben_flagged, ben_total, missed, false_positives))
    tuning = {kind: [name for name in out[kind][3] if int(name[1:].split("_")[0]) >= 87] for kind in out}
    print("tuning set m/b87+: detection %d/%d, false positives %d/%d" % (
        len(tuning["malicious"]) - len(set(tuning["malicious"]) & set(missed)), len(tuning["malicious"]),
        len(set(tuning["benign"]) & set(false_positives)), len(tuning["benign"])))
    assert mal_total >= 60 and ben_total >= 60
    assert detection >= 95.0, missed
    assert false_positive <= 3.0, false_positives
