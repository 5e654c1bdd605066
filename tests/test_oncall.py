"""On-call alerts as the counsellors' phones receive them: one per urgent case, until a flood."""

from __future__ import annotations

from core.privacy import Cipher
from core.store import Store
from handoff.cases import CaseQueue
from handoff.oncall import ALERTS_PER_WINDOW, ChatOnCall


async def test_a_flood_of_escalations_is_one_summary_not_a_ringing_phone(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'maak.db'}")
    store.migrate()
    queue = CaseQueue(store, Cipher(b"k"))
    phones: list[tuple[str, str]] = []

    async def send(chat_id: str, text: str) -> None:
        phones.append((chat_id, text))

    oncall = ChatOnCall(send, ["1001"], "https://maak.example/console")
    cases = [await queue.open_case(f"conv-{n}", channel="webchat", priority="urgent", summary="ghadi yqtlni")
             for n in range(ALERTS_PER_WINDOW + 7)]
    for case in cases:
        await oncall.alert(case)
    # The first ones ring one by one...
    assert [f"#{case.id}" in text for case, (_, text) in zip(cases, phones)] == [True] * ALERTS_PER_WINDOW
    await oncall.send_held()
    # ...the rest arrive as one summary naming them, with no words of hers.
    assert len(phones) == ALERTS_PER_WINDOW + 1
    summary = phones[-1][1]
    assert "7 more urgent cases" in summary and all(f"#{case.id}" in summary for case in cases[ALERTS_PER_WINDOW:])
    assert "yqtlni" not in summary
    await oncall.send_held()  # nothing held: nothing sent
    assert len(phones) == ALERTS_PER_WINDOW + 1
    store.dispose()
