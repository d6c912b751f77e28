"""Hand-built answer records for scoring tests."""
from mmad_eval.answers import AnswerRecord

YN = {"A": "Yes", "B": "No"}
ABCD = {"A": "a", "B": "b", "C": "c", "D": "d"}


def rec(key, qtype, answer, ref=None, parsed="same", index=0, error=None, rotation=0, options=None):
    """A record; ``ref`` is the reference-parsed letter, ``parsed`` the strict one ("same" = ref)."""
    return AnswerRecord(image=key, index=index, type=qtype, options=options or (YN if qtype == "Anomaly Detection"
                                                                               else ABCD),
                        answer=answer, reply=ref, error=error, parsed=ref if parsed == "same" else parsed,
                        reference_parsed=ref, rotation=rotation)
