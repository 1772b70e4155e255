"""One model id for cloud-hosted models, whether it comes from a span or from a bill.

A span names a Bedrock model as ``us.anthropic.claude-3-5-sonnet-20240620-v1:0``; the bill
names the same tokens ``USE1-Claude3.5Sonnet-input-tokens`` (or, through AWS Marketplace,
``Claude 3.5 Sonnet (Amazon Bedrock Edition)``). Azure bills ``gpt-4o-0806-Inp-glbl`` for a
span's ``gpt-4o-2024-08-06``; Vertex AI bills ``Gemini 2.5 Flash GA Text Input`` for a span's
``gemini-2.5-flash-001``. :func:`canonical_model` reduces both sides to one id per provider,
so spans and bills meet in the same reconciliation cell and the price files
(``pricing/aws_bedrock.toml``, ``azure_openai.toml``, ``gcp_vertex_ai.toml``) name that id.

The rules (each tested in ``tests/test_cloud_models.py``):

* ``aws_bedrock``: drop the ARN, the geography prefix (``us.``, ``eu.``, ``apac.``,
  ``global.``), the vendor (``anthropic.``, ``amazon.``, ``meta.`` ...), the date stamp, the
  ``-vN`` / ``:N`` revision and ``-mantle``; split the rest into words and numbers (so
  ``Claude3.5Sonnet`` and ``claude-3-5-sonnet`` are the same words) and drop a ``.0`` minor
  version (``Nova2.0Lite`` is ``nova-2-lite``). Claude ids are rebuilt in Anthropic's order:
  version first before Claude 4 (``claude-3-5-sonnet``), family first from 4 on
  (``claude-sonnet-4-5``). Global cross-region inference is priced about 10 % below
  geographic and in-region inference, and both sides can tell (the span's ``global.``
  profile, the bill's ``-cross-region-global`` / ``_Global`` usage type), so a globally
  routed model gets the suffix ``:global`` (``claude-sonnet-4-5:global``).
* ``azure_openai``: the OpenAI model family without its snapshot: lower-case, words joined
  by ``-``, ``gpt4o`` read as ``gpt-4o``, a bare version (``5.4``, ``5 mini``) read as
  ``gpt-5.4``, ``gpt-35`` as ``gpt-3.5``, and the snapshot (``-2024-08-06`` on spans,
  ``-0806`` on meters) and context-size words (``4K``, ``128K``) dropped. Newer meters carry
  no snapshot at all, so only the family can meet. One snapshot priced unlike its family,
  ``gpt-4o-2024-05-13`` (meter ``gpt 4o 0513``), keeps its date.
  The deployment type (Global, Data Zone, Regional) is not part of the id: spans do not know
  it, so a Data Zone or Regional premium shows as rate drift against the Global price.
* ``gcp_vertex_ai``: lower-case, words joined by ``-`` (``Gemini 2.5 Flash Lite`` is
  ``gemini-2.5-flash-lite``), the ``publishers/google/models/`` path, ``@version``, ``-001``
  and ``-preview[-MM-DD]`` suffixes and the SKU words ``GA`` / ``Preview`` dropped, and a
  ``.0`` dropped from version 3 on (Google's ids say ``gemini-3-pro`` where its SKUs say
  ``Gemini 3.0 Pro``, but ``gemini-2.0-flash`` for ``Gemini 2.0 Flash``).

A Bedrock *deployment* ARN is kept whole: a provisioned model
(``arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3``) or an application
inference profile (``...:application-inference-profile/ab12``) has a random id that names no
model, and a span invoking it carries that ARN as its model. Kept whole, a span on provisioned
throughput meets the capacity charge whose ``ResourceId`` is that ARN (:func:`capacity_model`).

Any other provider's model is returned unchanged (OpenAI and Anthropic bill under the ids
their spans carry).
"""

from __future__ import annotations

import re
from functools import lru_cache

BEDROCK = "aws_bedrock"
AZURE_OPENAI = "azure_openai"
VERTEX = "gcp_vertex_ai"
GLOBAL = ":global"

_GEO = re.compile(r"^(?:us|eu|apac|ap|jp|au|ca|us-gov|global)\.", re.IGNORECASE)
_VENDOR = re.compile(r"^(?:anthropic|amazon|meta|mistral|cohere|ai21|openai|deepseek|qwen|"
                     r"writer|stability|twelvelabs|luma|moonshot|minimax|google|nvidia)\.",
                     re.IGNORECASE)
_BEDROCK_TAIL = re.compile(r"(?:-\d{8})?(?:-v\d+)?(?::\d+)*$", re.IGNORECASE)
_DEPLOYMENT_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:\d*:"
                             r"(?:provisioned-model|application-inference-profile)/", re.IGNORECASE)
_PROVISIONED_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:\d*:provisioned-model/[^/\s]+$",
                              re.IGNORECASE)
_WORDS = re.compile(r"\d+b(?![a-z])|[a-z]+|\d+")
_CLAUDE_FAMILIES = ("haiku", "sonnet", "opus", "instant")


def canonical_model(provider: str, model: str, deployment: str | None = None) -> str:
    """The model id both spans and bills of ``provider`` use (see the module docstring).

    ``deployment`` is what a bill says about routing (``global``, ``geo``, ``regional``,
    ``data_zone``); only Bedrock's ``global`` changes the id. An empty model stays empty.
    """
    if not model:
        return model
    return _canonical(provider, model.strip(), (deployment or "").strip().lower())


def capacity_model(provider: str, resource_id: str | None) -> str:
    """The model id of the spans that use the provisioned capacity billed as ``resource_id``.

    Bedrock bills Provisioned Throughput on the provisioned model's ARN, and a span invoking it
    names that ARN as its model (:func:`canonical_model` keeps it whole). Elsewhere the bill
    does not say (an Azure PTU's ``ResourceId`` is the whole Azure OpenAI resource): ``""``.
    """
    rid = (resource_id or "").strip()
    if provider == BEDROCK and _PROVISIONED_ARN.match(rid):
        return rid
    return ""


@lru_cache(maxsize=4096)
def _canonical(provider: str, model: str, deployment: str) -> str:
    if provider == BEDROCK:
        return _bedrock(model, deployment)
    if provider == AZURE_OPENAI:
        return _azure(model)
    if provider == VERTEX:
        return _vertex(model)
    return model


def _bedrock(model: str, deployment: str) -> str:
    if _DEPLOYMENT_ARN.match(model):
        return model  # a deployment, not a model: only its ARN can meet its bill
    name = model.rsplit("/", 1)[-1] if model.lower().startswith("arn:") else model
    routed_global = deployment == "global" or name.lower().startswith("global.")
    if name.lower().endswith(GLOBAL):
        routed_global, name = True, name[: -len(GLOBAL)]
    name = _GEO.sub("", name)
    name = _VENDOR.sub("", name)
    name = _BEDROCK_TAIL.sub("", name)
    name = re.sub(r"-mantle$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"\s*\(Amazon Bedrock(?: Edition)?\)\s*$", "", name, flags=re.IGNORECASE)
    words = _words(name)
    if not words:
        return model
    if words[0] == "claude":
        base = _claude(words)
    else:
        base = "-".join(words)
    return base + (GLOBAL if routed_global else "")


def _words(name: str) -> list[str]:
    """Words and numbers of a name, with a ``.0`` minor version dropped (``2.0`` -> ``2``)."""
    # "Claude3.5Sonnet" -> claude 3 5 sonnet; "Nova2.0Lite" -> nova 2 lite
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)  # NovaPro -> Nova Pro
    text = re.sub(r"(\d)\.0(?!\d)", r"\1", text.lower())
    return _WORDS.findall(text)


def _claude(words: list[str]) -> str:
    family = next((w for w in words if w in _CLAUDE_FAMILIES), None)
    numbers = [w for w in words if w.isdigit() and len(w) <= 2]
    rest = [w for w in words[1:] if w != family and not (w.isdigit() and len(w) <= 2)
            and w != "v"]
    if family is None:
        return "-".join(["claude", *numbers, *rest])
    if numbers and int(numbers[0]) >= 4:
        return "-".join(["claude", family, *numbers, *rest])
    return "-".join(["claude", *numbers, family, *rest])


# Snapshots priced unlike the rest of their family keep their date (meter MMDD -> full date).
_AZURE_KEEP = {("gpt-4o", "0513"): "gpt-4o-2024-05-13", ("gpt-4o", "2024-05-13"): "gpt-4o-2024-05-13"}


def _azure(model: str) -> str:
    text = model.lower().strip()
    text = re.sub(r"[\s_]+", "-", text)
    text = re.sub(r"^gpt(?=\d)", "gpt-", text)            # gpt4o-mini -> gpt-4o-mini
    text = re.sub(r"^gpt-4o(?=mini)", "gpt-4o-", text)     # gpt-4omini -> gpt-4o-mini
    text = re.sub(r"^(?=\d)", "gpt-", text)               # 5.4 -> gpt-5.4
    text = re.sub(r"^gpt-35(?=-|$)", "gpt-3.5", text)
    snapshot = None
    m = re.search(r"-(\d{4}-\d{2}-\d{2})$", text) or re.search(r"-(\d{4})$", text)
    if m:
        snapshot, text = m.group(1), text[: m.start()]
    text = re.sub(r"-?\d+k(?=-|$)", "", text)              # context sizes: 4k, 16k, 128k
    text = re.sub(r"-+", "-", text).strip("-")
    if snapshot and (text, snapshot) in _AZURE_KEEP:
        return _AZURE_KEEP[(text, snapshot)]
    return text


def _vertex(model: str) -> str:
    text = model.rsplit("/", 1)[-1].split("@", 1)[0].lower().strip()
    text = re.sub(r"[\s_]+", "-", text)
    text = re.sub(r"-(?:ga|preview)(?=-|$)(?:-\d{2}-\d{2})?", "", text)
    text = re.sub(r"-\d{3}$", "", text)
    text = re.sub(r"(?<=-)([3-9]|\d{2,})\.0(?=-|$)", r"\1", text)
    return re.sub(r"-+", "-", text).strip("-")
