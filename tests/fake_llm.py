"""A scripted fake LLM server for tests of the real agent CLIs: 127.0.0.1 only, stateless
replies, every request logged.

Wire protocols: Anthropic Messages (``/v1/messages``, Claude Code), OpenAI Chat Completions
(``/v1/chat/completions``: aider, opencode, Qwen Code), OpenAI Responses (``/v1/responses``:
Codex) and Gemini (``/v1beta/models/M:streamGenerateContent``). Each reply is a whole SSE body
(or JSON when the client did not ask for a stream) with a Content-Length.

The ``Script`` decides every reply from the request alone, so a CLI's retries and side
requests (titles, token counts) do not disturb it:

* ``error_status`` set: every model call fails with that HTTP status (``retry_after_ms``:
  with the ``retry-after-ms`` and ``retry-after`` headers OpenAI's API sends, which the CLIs'
  own backoff honours);
* tools offered and no tool result yet: one call of the first write-capable tool offered
  (``Write``, ``write_file``, ``write``, Codex's shell tools...) writing ``content`` to ``path``;
* a tool result present: ``final_text``, end of turn;
* no tools offered (aider): the file in aider's ``whole`` edit format;
* ``scenes``: the file and its content depend on a needle in the request (one script for
  several prompts, e.g. a spec then a plan).

Every model reply reports ``tokens_in`` input tokens (``tokens_cached`` of them read from the
cache, and on the Anthropic wire ``tokens_cache_write`` written to it) and ``tokens_out``
output tokens, in each wire's own shape: Anthropic ``input_tokens`` counts only the uncached
rest; OpenAI ``prompt_tokens``/``input_tokens`` and Gemini ``promptTokenCount`` include the
cached tokens (``cached_tokens``, ``cachedContentTokenCount``).

Other shapes: ``neutral_error`` makes an error body carry no status word, the way OpenAI
answers a bad key (``invalid_request_error``, "request failed"); ``aider_crash`` makes the
reply to aider name a directory as the file to write, which breaks aider's edit step (it
reports the file it cannot write and exits 0, having changed nothing). Codex's tools come
either at the top level (``shell``, ``apply_patch``: a model set with ``-m``) or, with its
default model, as an ``additional_tools`` input item holding a JavaScript ``exec`` tool, which
gets a script running the shell command through its nested ``tools.exec_command``.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """What the fake model does: write ``content`` to ``path`` (relative to the agent's working
    directory; with the tool ``tool`` when offered, else the first write-capable one), then say
    ``final_text``; or fail every call with ``error_status`` (``neutral_error``: a body that
    names no status); each reply reports ``tokens_in`` (``tokens_cached`` and
    ``tokens_cache_write`` of them)/``tokens_out``; ``retry_after_ms``: an error says when to
    retry (milliseconds; ``retry-after`` in whole seconds, at least 1); ``aider_crash``: aider's edit crashes;
    ``delay_s`` seconds before each reply; ``scenes`` vary the
    file by request. ``steps`` (Anthropic Messages): ``(tool name, input)`` calls played in
    order instead (the first not yet in the conversation; while the agent does not offer its
    tool yet, ``WaitForMcpServers``), then ``final_text``."""

    path: str = "hello.txt"
    content: str = "hello from fake llm\n"
    final_text: str = "Done: wrote the file."
    error_status: int | None = None
    retry_after_ms: int | None = None
    tokens_in: int = 123
    tokens_out: int = 45
    tokens_cached: int = 0
    tokens_cache_write: int = 0
    neutral_error: bool = False
    aider_crash: bool = False
    delay_s: float = 0.0
    scenes: list[Scene] = field(default_factory=list)
    tool: str | None = None
    steps: list[tuple[str, dict]] = field(default_factory=list)

    def for_request(self, body: Any) -> Script:
        """This script, with ``path`` and ``content`` of the first scene whose ``needle`` is in
        the request's JSON (the conversation so far), so one server can play several
        prompts; unchanged when no scene matches."""
        text = json.dumps(body)
        for scene in self.scenes:
            if scene.needle in text:
                return replace(self, path=scene.path, content=scene.content, tool=scene.tool,
                               scenes=[])
        return self


@dataclass
class Scene:
    """For requests whose JSON contains ``needle``: write ``content`` to ``path``, with the
    tool named ``tool`` when the agent offers it (Claude Code's ``Write`` refuses to overwrite a
    file it has not read: ``Bash`` does)."""

    needle: str
    path: str
    content: str
    tool: str | None = None


@dataclass
class Request:
    """One logged request: ``method``, ``path``, ``headers`` and the JSON ``body``."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeLLM:
    """The server; use as a context manager. ``url`` is ``http://127.0.0.1:PORT`` (no /v1)."""

    script: Script = field(default_factory=Script)
    requests: list[Request] = field(default_factory=list)

    def __enter__(self) -> FakeLLM:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def model_calls(self) -> list[Request]:
        """The logged POSTs that asked the model for a reply (not token counts)."""
        return [r for r in self.requests if r.method == "POST" and "count" not in r.path.lower()]


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        server_fake = fake

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeLLM

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is ``FakeLLM.requests``."""

    def do_GET(self) -> None:
        self.server_fake.requests.append(Request("GET", self.path, dict(self.headers)))
        if self.path.split("?")[0].endswith("/models"):
            model = {"id": "fake-model", "object": "model", "owned_by": "fake"}
            return self._send(200, {"object": "list", "data": [model], "models": []})
        self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw[:2000].decode("latin-1")}
        self.server_fake.requests.append(Request("POST", self.path, dict(self.headers), body))
        script = self.server_fake.script.for_request(body)
        time.sleep(script.delay_s)
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens") or path.endswith(":countTokens"):
            return self._send(200, {"input_tokens": 10, "totalTokens": 10})
        if script.error_status:
            status, wait = script.error_status, script.retry_after_ms
            headers = {} if wait is None else {"retry-after-ms": str(wait),
                                               "retry-after": str(max(1, -(-wait // 1000)))}
            if script.neutral_error:
                return self._send(status, {"error": {"message": "request failed", "type":
                                           "invalid_request_error", "param": None, "code": None}},
                                  headers=headers)
            kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error")
            return self._send(status, {"type": "error", "error": {
                "type": kind, "message": f"fake {status} error", "code": status}}, headers=headers)
        if path.endswith("/messages"):
            return self._anthropic(body, script)
        if path.endswith("/chat/completions"):
            return self._chat(body, script)
        if path.endswith("/responses"):
            return self._responses(body, script)
        match = re.search(r"/models/([^/:]+):(\w+)$", path)
        if match:
            return self._gemini(body, script, match.group(2))
        self._send(404, {"error": {"message": f"unhandled path {path}"}})

    # ---------------------------------------------------------------- transport
    def _send(self, status: int, payload: Any, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, Any]]) -> None:
        text = "".join(
            (f"event: {name}\n" if name else "")
            + "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n"
            for name, data in events)
        self._send(200, text.encode(), "text/event-stream")

    # ---------------------------------------------------------------- protocols
    def _anthropic(self, body: dict, script: Script) -> None:
        tools = [t.get("name") for t in body.get("tools") or []]
        done = _has(body.get("messages"), lambda block: block.get("type") == "tool_result")
        call = _tool_call(tools, script) if tools and not done else None
        if script.steps:
            call = _step_call(tools, body.get("messages"), script.steps)
        if call:
            block = {"type": "tool_use", "id": _id("toolu_"), "name": call[0], "input": call[1]}
            stop = "tool_use"
        else:
            block = {"type": "text", "text": script.final_text if tools else "Fake title"}
            stop = "end_turn"
        uncached = script.tokens_in - script.tokens_cached - script.tokens_cache_write
        usage = {"input_tokens": uncached, "output_tokens": script.tokens_out,
                 "cache_creation_input_tokens": script.tokens_cache_write,
                 "cache_read_input_tokens": script.tokens_cached}
        message = {"id": _id("msg_"), "type": "message", "role": "assistant",
                   "model": body.get("model", "fake"), "stop_reason": stop, "stop_sequence": None}
        if not body.get("stream"):
            return self._send(200, {**message, "content": [block], "usage": usage})
        if block["type"] == "text":
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        self._sse([
            ("message_start", {"type": "message_start", "message": {
                **message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 0}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop},
                               "usage": {"output_tokens": script.tokens_out}}),
            ("message_stop", {"type": "message_stop"}),
        ])

    def _chat(self, body: dict, script: Script) -> None:
        tools = [(t.get("function") or {}).get("name") or t.get("name") for t in body.get("tools") or []]
        done = any(m.get("role") == "tool" for m in body.get("messages") or [])
        call = _tool_call(tools, script) if tools and not done else None
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if call:
            message["tool_calls"] = [{"id": _id("call_"), "type": "function", "function": {
                "name": call[0], "arguments": json.dumps(call[1])}}]
        else:
            message["content"] = script.final_text if tools else _aider_edit(
                script, "SEARCH/REPLACE" in json.dumps(body.get("messages")))
        finish = "tool_calls" if call else "stop"
        usage = {"prompt_tokens": script.tokens_in, "completion_tokens": script.tokens_out,
                 "total_tokens": script.tokens_in + script.tokens_out,
                 "prompt_tokens_details": {"cached_tokens": script.tokens_cached}}
        head = {"id": _id("chatcmpl-"), "created": int(time.time()), "model": body.get("model", "fake")}
        if not body.get("stream"):
            return self._send(200, {**head, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": message, "finish_reason": finish}]})
        chunk = {**head, "object": "chat.completion.chunk"}
        delta = {k: v for k, v in message.items() if v is not None}
        if call:
            delta["tool_calls"] = [{**message["tool_calls"][0], "index": 0}]
        self._sse([
            (None, {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
            (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
            (None, {**chunk, "choices": [], "usage": usage}),
            (None, "[DONE]"),
        ])

    def _responses(self, body: dict, script: Script) -> None:
        offered = [*(body.get("tools") or []), *_additional_tools(body.get("input"))]
        kinds = {(t.get("name") or (t.get("function") or {}).get("name")): t.get("type", "function")
                 for t in offered}
        done = any(isinstance(i, dict) and str(i.get("type", "")).endswith("_output")
                   for i in body.get("input") or [])
        call = _tool_call(list(kinds), script, kinds) if kinds and not done else None
        if call and kinds.get(call[0]) == "custom":
            item = {"type": "custom_tool_call", "id": _id("ctc_"), "status": "completed",
                    "call_id": _id("call_"), "name": call[0], "input": call[1]}
        elif call:
            item = {"type": "function_call", "id": _id("fc_"), "status": "completed",
                    "call_id": _id("call_"), "name": call[0], "arguments": json.dumps(call[1])}
        else:
            item = {"type": "message", "id": _id("msg_"), "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": script.final_text, "annotations": []}]}
        usage = {"input_tokens": script.tokens_in, "output_tokens": script.tokens_out,
                 "input_tokens_details": {"cached_tokens": script.tokens_cached},
                 "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": script.tokens_in + script.tokens_out}
        response = {"id": _id("resp_"), "object": "response", "created_at": int(time.time()),
                    "model": body.get("model", "fake"), "status": "in_progress", "output": []}
        done_response = {**response, "status": "completed", "output": [item], "usage": usage}
        if not body.get("stream"):
            return self._send(200, done_response)
        self._sse([
            ("response.created", {"type": "response.created", "sequence_number": 0, "response": response}),
            ("response.output_item.added", {"type": "response.output_item.added", "sequence_number": 1,
                                            "output_index": 0, "item": item}),
            ("response.output_item.done", {"type": "response.output_item.done", "sequence_number": 2,
                                           "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed", "sequence_number": 3,
                                    "response": done_response}),
        ])

    def _gemini(self, body: dict, script: Script, method: str) -> None:
        config = body.get("generationConfig") or {}
        tools = [f.get("name") for t in body.get("tools") or [] for f in t.get("functionDeclarations") or []]
        done = _has(body.get("contents"), lambda part: "functionResponse" in part, key="parts")
        if config.get("responseMimeType") == "application/json" or config.get("responseJsonSchema"):
            parts = [{"text": json.dumps({"reasoning": "fake", "next_speaker": "user",
                                          "model_choice": "flash"})}]
        elif tools and not done and (call := _tool_call(tools, script)):
            parts = [{"functionCall": {"name": call[0], "args": call[1]}}]
        else:
            parts = [{"text": script.final_text if tools else "Fake reply"}]
        reply = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                                 "index": 0}],
                 "usageMetadata": {"promptTokenCount": script.tokens_in,
                                   "candidatesTokenCount": script.tokens_out,
                                   "cachedContentTokenCount": script.tokens_cached,
                                   "totalTokenCount": script.tokens_in + script.tokens_out}}
        if method == "streamGenerateContent":
            return self._sse([(None, reply)])
        self._send(200, reply)


def _additional_tools(items: Any) -> list[dict]:
    """The tools of Codex's ``additional_tools`` input items (its default model's shape:
    ``{"type": "additional_tools", "tools": [{"type": "namespace", "tools": [...]}]}``)."""
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            for tool in item.get("tools") or []:
                found += tool.get("tools") or [] if tool.get("type") == "namespace" else [tool]
    return found


def _has(messages: Any, test: Any, key: str = "content") -> bool:
    """Whether any block under ``key`` of any message passes ``test``."""
    for message in messages or []:
        blocks = message.get(key) if isinstance(message, dict) else None
        if isinstance(blocks, list) and any(isinstance(b, dict) and test(b) for b in blocks):
            return True
    return False


WAIT_TOOL = "WaitForMcpServers"
"""Claude Code's tool that waits for MCP servers still connecting."""


def _step_call(tools: list[str], messages: Any, steps: list[tuple[str, dict]]) -> tuple[str, dict] | None:
    """The next of ``steps`` (the first not yet called in ``messages``); while its tool is not
    offered, Claude Code's ``WaitForMcpServers`` when offered; None when all were played."""
    called = [block.get("name") for message in messages or [] if isinstance(message, dict)
              and isinstance(message.get("content"), list) for block in message["content"]
              if isinstance(block, dict) and block.get("type") == "tool_use"
              and block.get("name") != WAIT_TOOL]
    if len(called) >= len(steps):
        return None
    name, arguments = steps[len(called)]
    if name in tools:
        return name, arguments
    return (WAIT_TOOL, {}) if WAIT_TOOL in tools else None


def _tool_call(names: list[str], script: Script, kinds: dict | None = None) -> tuple[str, Any] | None:
    """The call of the first write-capable tool among ``names`` that writes the script's file."""
    shell = f"printf %s {shlex.quote(script.content)} > {shlex.quote(script.path)}"
    patch = ("*** Begin Patch\n*** Add File: " + script.path + "\n"
             + "".join(f"+{line}\n" for line in script.content.splitlines()) + "*** End Patch\n")
    choices = {
        "Write": {"file_path": script.path, "content": script.content},
        "write_file": {"file_path": script.path, "content": script.content},
        "write": {"filePath": script.path, "content": script.content},
        "apply_patch": patch if (kinds or {}).get("apply_patch") == "custom" else {"input": patch},
        "shell_command": {"command": shell},
        "exec_command": {"cmd": shell},
        "exec": f"const result = await tools.exec_command({json.dumps({'cmd': shell})});\n"
                "text(result);\n",
        "shell": {"command": ["bash", "-lc", shell]},
        "Bash": {"command": shell},
        "run_shell_command": {"command": shell},
        "bash": {"command": shell, "description": "write the file"},
    }
    if script.tool in names and script.tool in choices:
        return script.tool, choices[script.tool]
    for name, arguments in choices.items():
        if name in names:
            return name, arguments
    return None


def _aider_edit(script: Script, search_replace: bool) -> str:
    """The final text, then the file in aider's edit format: ``whole`` (a model set), or the
    ``diff`` SEARCH/REPLACE block its default model asks for (an empty SEARCH creates the
    file); with ``aider_crash`` the file named is ``.`` (the working directory), which aider
    fails to write."""
    path = "." if script.aider_crash else script.path
    body = (f"<<<<<<< SEARCH\n=======\n{script.content}>>>>>>> REPLACE\n" if search_replace
            else script.content)
    return f"{script.final_text}\n\n{path}\n```\n{body}```\n"


def _id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:16]
