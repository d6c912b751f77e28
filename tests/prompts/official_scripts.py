"""What MMAD's official scripts send, re-expressed from reading their code (jam-cc/MMAD, evaluation/examples).

Each ``expect_<preset>(entry, shots)`` returns the requests the script makes for one image of mmad.json, in
order, as ``[(messages, answered positions)]``; a message is ``(role, [("text", str) | ("image", role)])``.
These builders are written from the scripts' string building, independently of prompts/official/*.j2.
"""
from __future__ import annotations

CORE = ("You are an industrial inspector who checks products by images. You should judge whether there is a "
        "defect in the query image and answer the questions about it.\n")
GPT4V_INSTRUCTION = "\n" + CORE + "Answer with the option's letter from the given choices directly.\n"
LIST_EXAMPLE = "1. Answer: B.\n2. Answer: B.\n3. Answer: A.\n...\n"


def options_text(qa: dict) -> str:
    return "".join(f"{k}. {v}\n" for k, v in qa["Options"].items())


def _api_text(instruction: str, shots: int, conversation: list[str]) -> str:
    incontext = (f"The first {shots} image is the normal sample, which can be used as a template to compare."
                 if shots else "")
    text = "".join(q + "\n" for q in conversation)
    return instruction + incontext + "The last image is the query image" + "Following is the question list: " + "\n" + text


def _images_first(shots: int) -> list:
    return [("image", "template")] * shots + [("image", "query")]


def expect_gpt4o(conv: list[dict], shots: int) -> list:
    instruction = ("\n" + CORE + "Answer with the option's letter from the given choices directly!\n\n"
                   "Finally, you should output a list of answer, such as:\n" + LIST_EXAMPLE)
    qs = [f"Question: {qa['Question']} \n{options_text(qa)}" for qa in conv]
    return [([("user", _images_first(shots) + [("text", _api_text(instruction, shots, qs[:i + 1]))])], [i])
            for i in range(len(conv))]


def expect_gpt4o_mini(conv: list[dict], shots: int) -> list:
    instruction = ("\n" + CORE + "Answer with the option's letter from the given choices directly.\n\n"
                   "Finally, you should output a list of answer, such as:\n" + LIST_EXAMPLE)
    qs = [f"Question {i + 1}: {qa['Question']} \n{options_text(qa)}" for i, qa in enumerate(conv)]
    return [([("user", _images_first(shots) + [("text", _api_text(instruction, shots, [qs[i]]))])], [i])
            for i in range(len(conv))]


def expect_gpt4v(conv: list[dict], shots: int) -> list:
    qs = [("text", f"Question {i + 1}: {qa['Question']} \n{options_text(qa)}") for i, qa in enumerate(conv)]
    incontext = ([("text", f"Following is {shots} image of normal sample, which can be used as a template to "
                           "compare.")] if shots else []) + [("image", "template")] * shots
    user = incontext + [("text", "Following is the query image: "), ("image", "query"),
                        ("text", "Following is the question list: ")]
    return [([("system", [("text", GPT4V_INSTRUCTION)]), ("user", user + qs[:i + 1])], [i]) for i in range(len(conv))]


KNOWLEDGE_LEAD = ("Following is the domain knowledge which contains some type of defect and the normal object "
                  "characteristics: \n ")


def expect_qwen(conv: list[dict], shots: int, knowledge: str | None = None) -> list:
    out = []
    for i, qa in enumerate(conv):
        parts = [("text", GPT4V_INSTRUCTION), ("text", "Answer with the option's letter from the given choices directly! ")]
        if knowledge:
            parts.append(("text", KNOWLEDGE_LEAD + knowledge))
        if shots:
            parts.append(("text", f"Following is/are {shots} image of normal sample, which can be used as a template "
                                  "to compare the image being queried."))
        for k in range(shots):   # add_vision_id=True: the chat template writes "Picture N: " before each image
            parts += [("text", f"Picture {k + 1}: "), ("image", "template")]
        parts += [("text", "Following is the query image: "), ("text", f"Picture {shots + 1}: "), ("image", "query"),
                  ("text", "Following is the question list: "),
                  ("text", f"Question: {qa['Question']} \n{options_text(qa)}")]
        out.append(([("user", parts)], [i]))
    return out


def expect_internvl(conv: list[dict], shots: int, knowledge: str | None = None) -> list:
    out = []
    for i, qa in enumerate(conv):
        incontext = KNOWLEDGE_LEAD + knowledge if knowledge else ""
        if shots:
            incontext += ("Following is/are " + str(shots) + " image of normal sample, which can be used as a template "
                         "to compare the image being queried." + "".join("\n" + " <image>\n" for _ in range(shots)))
        text = (GPT4V_INSTRUCTION + incontext + "\n" + "Following is the query image: " + "\n" + "<image> " + "\n"
                + "Following is the question list. Answer with the option's letter from the given choices directly: "
                + "\n" + f"Question {i + 1}: {qa['Question']} \n{options_text(qa)}" + "\n")
        out.append(([("user", _split_image_tokens(text, shots))], [i]))
    return out


def expect_llava(conv: list[dict], shots: int, shown_options: list[dict], knowledge: str | None = None) -> list:
    out = []
    for i, qa in enumerate(conv):
        question = (f"Following is {shots} image of normal sample:" + "<image>\n" * shots) if shots else ""
        if knowledge:
            question = KNOWLEDGE_LEAD + knowledge + question
        question = question + "Test image: \n" + "<image>" + "\n"
        question = GPT4V_INSTRUCTION + "\n" + question + "Following is new question list: \n"
        opts = "".join(f"{k}. {v}\n" for k, v in shown_options[i].items())
        question += f"{qa['Question']} \n{opts}"
        out.append(([("user", _split_image_tokens(question, shots))], [i]))
    return out


def expect_gemini(conv: list[dict], shots: int) -> list:
    instruction = ("\n" + CORE + "Answer with the option's letter from the given choices directly.\n\n"
                   "Finally, you should output a answer list of every question, such as:\n" + LIST_EXAMPLE + "\n")
    qs = [f"Question: {qa['Question']} \n{options_text(qa)}" for qa in conv]
    first = [("user", _images_first(shots) + [("text", _api_text(instruction, shots, qs[:1]))])]
    rest = [("user", _images_first(shots) + [("text", _api_text(instruction, shots, qs[1:]))])]
    return [(first, [0]), (rest, list(range(1, len(conv))))]


def _split_image_tokens(text: str, shots: int) -> list:
    """A string with <image> tokens as parts: the first ``shots`` are templates, the last the query."""
    chunks = text.split("<image>")
    parts = []
    for k, chunk in enumerate(chunks):
        if chunk:
            parts.append(("text", chunk))
        if k < len(chunks) - 1:
            parts.append(("image", "template" if k < shots else "query"))
    return parts


# -- the six scripts added for issue 26 (read at jam-cc/MMAD bad03b4) ---------------------------------------
def _gpt4v_questions(conv: list[dict]) -> list[str]:
    """GPT4/gpt4v.py's parse_conversation, which these scripts inherit: 'Question {i+1}: q \\n' + options."""
    return [f"Question {i + 1}: {qa['Question']} \n{options_text(qa)}" for i, qa in enumerate(conv)]


def expect_minicpm(conv: list[dict], shots: int, knowledge: str | None = None) -> list:
    out = []
    for i, q in enumerate(_gpt4v_questions(conv)):
        incontext = KNOWLEDGE_LEAD + knowledge if knowledge else ""
        if shots == 1:
            incontext += "Image 1 is a normal sample, which can be used as a template to compare the image being queried."
        elif shots:
            incontext += (f"Image 1-{shots} are {shots} normal samples, which can be used as a template to compare "
                          "the image being queried.")
        payload = (GPT4V_INSTRUCTION + incontext + "\n" + "The last image is the query image: "
                   + "Following is the question list. Answer with the option's letter from the given choices directly: "
                   + "\n")
        out.append(([("user", _images_first(shots) + [("text", payload + q + "\n")])], [i]))
    return out


def expect_xcomposer(conv: list[dict], shots: int) -> list:
    out = []
    for i, q in enumerate(_gpt4v_questions(conv)):
        incontext = ""
        if shots:
            incontext += (f"Following is/are {shots} image of normal sample, which can be used as a template to "
                          "compare the image being queried.")
        incontext += "<ImageHere> " * shots
        payload = (GPT4V_INSTRUCTION + incontext + "\n" + "Following is the query image: " + "\n" + "<ImageHere> "
                   + "\n" + "Following is the question list. Answer with the option's letter from the given "
                   "choices directly: " + "\n")
        out.append(([("user", _split_tokens(payload + q + "\n", "<ImageHere>", shots))], [i]))
    return out


def expect_qwen_vl_chat(conv: list[dict], shots: int) -> list:
    out = []
    for i, q in enumerate(_gpt4v_questions(conv)):
        items = [{"text": GPT4V_INSTRUCTION}, {"text": "Answer with the option's letter from the given choices directly."}]
        if shots:
            items.append({"text": f"Following is/are {shots} image of normal sample, which can be used as a "
                                  "template to compare the image being queried."})
        items += [{"image": "template"}] * shots
        items += [{"text": "Following is the query image: "}, {"image": "query"},
                  {"text": "Following is the question list: "}, {"text": q}]
        parts, n = [], 0               # tokenizer.from_list_format: 'Picture N: <img>..</img>\n' per image
        for item in items:
            if "image" in item:
                n += 1
                parts += [("text", f"Picture {n}: "), ("image", item["image"]), ("text", "\n")]
            else:
                parts.append(("text", item["text"]))
        out.append(([("user", _merge_text(parts))], [i]))
    return out


def expect_cambrian(conv: list[dict], shots: int, shown_options: list[dict], knowledge: str | None = None) -> list:
    out = []
    for (parts, answered), _ in zip(expect_llava(conv, shots, shown_options, knowledge), conv):
        (role, p), = parts
        p = list(p)
        p[-1] = ("text", p[-1][1] + "\n" + "Answer with the letter.")
        out.append(([(role, p)], answered))
    return out


def expect_sphinx(conv: list[dict], shots: int, knowledge: str | None = None) -> list:
    out = []
    for i, q in enumerate(_gpt4v_questions(conv)):
        incontext = KNOWLEDGE_LEAD + knowledge if knowledge else ""
        payload = GPT4V_INSTRUCTION + incontext + "\n"
        payload = payload + "\n" + "Following is the question list. Answer with the option's letter from the given choices directly: " + "\n"
        out.append(([("user", [("image", "query"), ("text", payload + q + "\n")])], [i]))
    return out


def expect_anomalygpt(conv: list[dict], shots: int, shown_options: list[dict]) -> list:
    prompt_text = ("This is a photo of a object for anomaly detection, which should be round, without any damage, "
                   "flaw, defect, scratch, hole or broken part.")
    out = []
    for i, qa in enumerate(conv):
        opts = "".join(f"{k}. {v}\n" for k, v in shown_options[i].items())
        text = " Is there any anomaly in the image?" if qa["type"] == "Anomaly Detection" else f"{qa['Question']} \n{opts}"
        prompt_text += text                          # never reset: the prompt grows with every question
        if i != 0:
            prompt_text += "Answer with the option's letter from the given choices directly."
        images = [("image", "query")] + [("image", "template")] * shots
        out.append(([("user", images + [("text", prompt_text)])], [i]))
    return out


def _split_tokens(text: str, token: str, shots: int) -> list:
    return _split_image_tokens(text.replace(token, "<image>"), shots)


def _merge_text(parts: list) -> list:
    out = []
    for kind, value in parts:
        if kind == "text" and out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + value)
        else:
            out.append((kind, value))
    return out
