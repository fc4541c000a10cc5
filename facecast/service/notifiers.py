"""Chat group robots told when a video or batch ends, and service alerts: WeCom, DingTalk, Feishu/Lark, Slack.

A message is written once as a title, labelled fields and links, then rendered in each robot's documented format:
- WeCom group robot: {"msgtype": "markdown", "markdown": {"content": ...}}, no signature.
- DingTalk custom robot: {"msgtype": "markdown", "markdown": {"title", "text"}}; with a secret, the URL gets
  `timestamp` (ms) and `sign` = base64 HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}").
- Feishu/Lark custom bot: {"msg_type": "interactive", "card": ...}; with a secret, the body gets `timestamp` (s)
  and `sign` = base64 HMAC-SHA256(key="{timestamp}\\n{secret}", msg="").
- Slack incoming webhook (and Mattermost, Rocket.Chat, ...): {"text": ...} in mrkdwn.
The first three answer HTTP 200 with an error code in the body when they refuse a message; that counts as failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from .fetch import check_url
from .problems import UnknownNotifierError
from .settings import NotifierSettings, Settings
from .webhooks import Answer, host_of, post

log = logging.getLogger("facecast.notifiers")
MAX_LINES = 20  # a batch's message lists at most this many videos


@dataclass(frozen=True, slots=True)
class Message:
    """What a notification says, before it is put in a robot's format."""

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (label, value)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, url)
    lines: list[str] = field(default_factory=list)  # free lines after the fields, already in Markdown


def targets_or_raise(settings: Settings, names: list[str] | None, *callback_urls: str | None) -> list[str]:
    """Check a create's delivery targets; returns the notifier names it tells: `names` if given (each must be
    configured), else the server's default list. Callback URLs' addresses are checked now (422 url_refused) and
    again at each send, as DNS answers change."""
    for url in callback_urls:
        if url:
            check_url(url, settings.fetch)
    if names is None:
        return list(settings.notify)
    unknown = [name for name in names if name not in settings.notifiers]
    if unknown:
        known = ", ".join(sorted(settings.notifiers)) or "none are configured"
        raise UnknownNotifierError(f"notify names unknown notifiers: {', '.join(unknown)}; configured: {known}")
    return list(dict.fromkeys(names))


def _markdown(message: Message, bold: str = "**") -> str:
    parts = [f"{bold}{label}{bold}: {value}" for label, value in message.fields]
    parts += [f"[{text}]({url})" for text, url in message.links]
    return "\n".join(parts + message.lines)


def _slack(message: Message) -> str:
    parts = [f"*{message.title}*"] + [f"*{label}*: {value}" for label, value in message.fields]
    parts += [f"<{url}|{text}>" for text, url in message.links]
    lines = [_slack_links(line) for line in message.lines]
    return "\n".join(parts + lines)


def _slack_links(line: str) -> str:
    """Markdown [text](url) links and **bold** in a line, as Slack mrkdwn."""
    import re

    line = re.sub(r"\[([^\]]*)\]\(([^)\s]*)\)", r"<\2|\1>", line)
    return line.replace("**", "*")


def render(kind: str, message: Message) -> dict[str, Any]:
    """The robot's JSON body for `message`, unsigned."""
    text = _markdown(message)
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{message.title}**\n{text}"}}
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": f"### {message.title}\n{text}"}}
    if kind == "feishu":
        return {"msg_type": "interactive", "card": {
            "header": {"title": {"tag": "plain_text", "content": message.title}},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]}}
    if kind == "slack":
        return {"text": _slack(message)}
    raise ValueError(f"unknown notifier kind {kind!r}")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` query value (URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark's `sign` body field: the key is "{timestamp}\\n{secret}", the message empty."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_request(target: NotifierSettings, url: str, body: str) -> tuple[str, bytes]:
    """(URL, body) of one attempt: DingTalk and Feishu signatures are made now, as they expire after an hour."""
    secret = target.secret.get_secret_value() if target.secret else None
    if secret and target.kind == "dingtalk":
        now_ms = int(time.time() * 1000)
        url += ("&" if "?" in url else "?") + f"timestamp={now_ms}&sign={dingtalk_sign(secret, now_ms)}"
    if secret and target.kind == "feishu":
        now_s = int(time.time())
        body = json.dumps({"timestamp": str(now_s), "sign": feishu_sign(secret, now_s), **json.loads(body)})
    return url, body.encode()


def refusal(kind: str, answer: Answer) -> str | None:
    """Why the robot refused the message, or None when it took it (HTTP 2xx and, where it has one, code 0)."""
    if answer.status_code is None:
        return answer.error or "no answer"
    if not 200 <= answer.status_code < 300:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    if kind in ("wecom", "dingtalk", "feishu"):
        try:
            data = json.loads(answer.text)
        except ValueError:
            return f"the robot's answer is not JSON: {answer.text[:200]}"
        code = data.get("errcode", data.get("code", data.get("StatusCode", 0))) if isinstance(data, dict) else 0
        if code not in (0, None):
            message = data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or ""
            return f"the robot refused the message: code {code} {message}".strip()[:500]
    return None


def send_now(settings: Settings, name: str, body: str) -> tuple[int | None, str | None]:
    """POST an already rendered body to notifier `name` once: (HTTP status or None, why it failed or None)."""
    target = settings.notifiers.get(name)
    if target is None:
        return None, f"notifier {name!r} is no longer configured"
    url, data = signed_request(target, target.url, body)
    answer = post(settings, url, data, {"Content-Type": "application/json"})
    return answer.status_code, refusal(target.kind, answer)


def send_alert(settings: Settings, title: str, text: str) -> int:
    """Post a one-off message to every notifier in settings.alert_notifiers, at once (not as a delivery row).

    How often is alerts.py's decision (each kind at most once per alerts.repeat_s, across workers). Never raises.

    Returns:
        How many notifiers took the message (0 when none are configured or all refused it).
    """
    if not settings.alert_notifiers:
        return 0
    sent = 0
    for name in settings.alert_notifiers:
        kind = settings.notifiers[name].kind
        try:
            _, problem = send_now(settings, name, json.dumps(render(kind, Message(title, lines=[text]))))
        except Exception as exc:  # an alert must never take down its caller
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            sent += 1
        else:
            log.warning("alert %r to notifier %s (%s) not sent: %s", title, name,
                        host_of(settings.notifiers[name].url), problem)
    return sent
