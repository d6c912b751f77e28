"""Audit numbers on crafted question sets."""
import random

from mmad_eval.questions.audit import audit, blind_baseline, length_bias, letter_test
from mmad_eval.questions.model import ImageEntry, Question, QuestionSet

NAMES = ["crack", "scratch", "hole", "stain", "cut", "dent", "fold", "chip", "burn", "tear"]


def crafted(answer_at=None, longest_right=False, n_cats=6, per_cat=40, seed=0) -> QuestionSet:
    rng = random.Random(seed)
    entries = {}
    for c in range(n_cats):
        for i in range(per_cat):
            key = f"DS/cat{c}/test/d/{i:03d}.png"
            names = rng.sample(NAMES, 4)
            if longest_right:
                names[0] = names[0] + " with visible damage"
            letters = "ABCD"
            pos = letters.index(answer_at) if answer_at else rng.randrange(4)
            texts = names[1:]
            texts.insert(pos, names[0])
            q = Question(image=key, index=0, type="Defect Classification", text="What is the type of the defect?",
                         options=dict(zip(letters, texts)), answer=letters[pos])
            entries[key] = ImageEntry(key=key, questions=[q])
    return QuestionSet(entries=entries)


def qlist(qs):
    return list(qs.questions())


def test_always_a_is_flagged_and_blind_learns_it():
    qs = crafted(answer_at="A")
    lt = letter_test(qlist(qs))
    assert lt["observed"] == {"A": 240, "B": 0, "C": 0, "D": 0} and lt["flagged"] and lt["p"] < 1e-10
    blind = blind_baseline(qlist(qs))
    assert blind["accuracy"] == 1.0 and blind["chance"] == 0.25 and blind["flagged"]
    assert any("letters not uniform" in f for f in audit(qs)["flags"])


def test_balanced_random_set_is_not_flagged():
    qs = crafted()
    report = audit(qs)
    st = report["subtasks"]["Defect Classification"]
    assert not st["letters"]["flagged"]
    assert abs(st["blind"]["accuracy"] - 0.25) < 0.08 and not st["blind"]["flagged"]
    assert not st["length_bias"]["longest"]["flagged"]
    assert report["flags"] == []
    assert report["counts"]["DS"]["Defect Classification"]["cat0"] == 40


def test_longest_option_bias_detected_by_length_and_blind():
    qs = crafted(longest_right=True)
    lb = length_bias(qlist(qs))["longest"]
    assert lb["rate"] == 1.0 and lb["chance"] == 0.25 and lb["flagged"]
    assert blind_baseline(qlist(qs))["accuracy"] > 0.9


def test_blind_baseline_is_cross_validated_by_category():
    # every category has its own vocabulary and always the same answer (its own name): memorising answers
    # within a category would score 100%, but a held-out category's texts are never seen in training
    qs = crafted(seed=2)
    for e in qs.entries.values():
        q = e.questions[0]
        c = int(e.key.split("/")[1][3:])
        fixed = NAMES[c]
        others = iter(n for n in NAMES if n != fixed)
        for letter in q.options:                       # same length mix as the answer; own vocabulary
            q.options[letter] = (fixed if letter == q.answer else next(others)) + "qrstuv"[c]
    blind = blind_baseline(qlist(qs))
    assert blind["folds"] == 6 and blind["accuracy"] < 0.6      # memorising would give 1.0


def test_duplicates_counted():
    qs = crafted(n_cats=1, per_cat=3)
    e = next(iter(qs.entries.values()))
    q = e.questions[0]
    e.questions.append(Question(image=q.image, index=1, type=q.type, text=q.text, options=dict(q.options),
                                answer=q.answer))
    q2 = list(qs.entries.values())[1].questions[0]
    q2.options["B"] = q2.options["A"].upper() + "."
    report = audit(qs)
    assert report["duplicate_questions"]["count"] == 1
    assert report["duplicate_options"]["count"] == 1


def test_fixed_yes_no_not_flagged_but_reported():
    entries = {}
    for i in range(60):
        key = f"DS/c/test/{'good' if i < 20 else 'bad'}/{i:03d}.png"
        ans = "B" if i < 20 else "A"
        entries[key] = ImageEntry(key=key, questions=[Question(image=key, index=0, type="Anomaly Detection",
                                                               text="Is there any defect in the object?",
                                                               options={"A": "Yes.", "B": "No."}, answer=ans)])
    report = audit(QuestionSet(entries=entries))
    st = report["subtasks"]["Anomaly Detection"]
    assert st["letters"]["fixed_yes_no"] and st["letters"]["p"] < 0.05 and not st["letters"]["flagged"]
    assert st["blind"]["balanced_accuracy"] == 0.5 and not st["blind"]["flagged"]


def test_generated_set_audits_clean(small_source):
    from qgen_fixtures import knowledge
    from mmad_eval.questions.generate import GenerateSettings, generate_questions

    qs = generate_questions(small_source, knowledge(), GenerateSettings(similar="none")).questions
    report = audit(qs)
    assert report["duplicate_questions"]["count"] == 0 and report["duplicate_options"]["count"] == 0
