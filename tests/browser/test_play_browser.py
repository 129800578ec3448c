"""The game in a real browser (Debian's Chromium, driven by Playwright): solo games on one server, and a
room on a two-worker cluster with real Redis, where browser pages and python-socketio clients play together.

Drawings are real Quick, Draw! drawings of the prompt the page shows, replayed as pointer events at the pace
their timestamps record. Screenshots go to test-output/play/ (the README's come from there).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from harness.processes import ServerProcess
from realtime.game import rules
from tests.support.browser import Placement, open_page, replay
from tests.support.cluster import Balancer
from tests.support.players import GameClient, known_drawings

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "play"
SECONDS = 16.0  # a round: long enough for every drawing below at human pace
VERDICT_SHOWN = "() => !document.querySelector('#verdict').hidden"


@pytest.fixture(scope="module")
def server(output: Path) -> Iterator[ServerProcess]:
    """One server with the shipped model and 16-second rounds."""
    srv = ServerProcess(output / "server.log", env={"ROUND_SECONDS": str(SECONDS)})
    srv.start()
    yield srv
    srv.stop()


def shortest(label: str) -> list:
    """The quickest to draw of the model's known drawings of `label`."""
    return min(known_drawings(label), key=lambda d: d[-1][2][-1] - d[0][2][0])


def prompt_of(page: Page) -> str:
    """The class the page asks for ("a camel" → "camel")."""
    return page.inner_text("#prompt").split(" ", 1)[1]


def wait_round(page: Page, index: int, timeout: float = 20_000) -> str:
    """Wait until round `index` is being drawn on the page; return its prompt."""
    page.wait_for_function(
        "(n) => document.querySelector('#round-index').textContent === String(n)"
        " && document.querySelector('#verdict').hidden && !document.querySelector('#round-bar').hidden",
        arg=index,
        timeout=timeout,
    )
    return prompt_of(page)


# --- solo -----------------------------------------------------------------------------------------------


def test_a_solo_game_recognises_real_drawings_and_sums_up(browser, server, output) -> None:
    page, console = open_page(browser, server.url + "/play")
    page.screenshot(path=output / "play.png")
    page.focus("#solo-start")
    page.keyboard.press("Enter")  # the keyboard starts the game
    prompts = []
    for index in range(1, rules.SOLO_ROUNDS + 1):
        prompt = wait_round(page, index)
        prompts.append(prompt)
        clock = page.inner_text("#clock")
        assert clock in ("0:16", "0:15"), clock
        if index == rules.SOLO_ROUNDS:
            # The last round is left blank: the server's clock ends it.
            started = time.monotonic()
            page.wait_for_function(VERDICT_SHOWN, timeout=(SECONDS + 5) * 1000)
            assert time.monotonic() - started >= SECONDS - 1.5
            assert page.inner_text("#verdict") == "Sorry, I couldn’t guess it."
            continue
        drawing = shortest(prompt)
        replay(page, drawing, Placement(page, drawing), stop=lambda: page.is_visible("#verdict"))
        page.wait_for_function(VERDICT_SHOWN, timeout=SECONDS * 1000)
        article = "an" if prompt[0] in "aeiou" else "a"
        assert page.inner_text("#verdict") == f"Oh, I know, it’s {article} {prompt}!"
        if index == 2:
            page.screenshot(path=output / "play-recognised.png")
    assert len(set(prompts)) == rules.SOLO_ROUNDS, "six rounds, six different prompts"

    page.wait_for_selector("#summary:not([hidden])", timeout=10_000)
    cards = page.locator(".drawing-card")
    assert cards.count() == rules.SOLO_ROUNDS
    for i, prompt in enumerate(prompts):
        card = cards.nth(i)
        assert card.get_attribute("data-prompt") == prompt
        assert card.get_attribute("data-recognised") == ("false" if i == len(prompts) - 1 else "true")
    assert page.locator(".drawing-card.recognised img.pixelated").count() == rules.SOLO_ROUNDS - 1
    assert "5 of your 6" in page.inner_text("#summary-score")
    inked = page.evaluate(
        """() => [...document.querySelectorAll('.drawing-canvas')].map((c) => {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n += 1; return n; })"""
    )
    assert all(n > 200 for n in inked[:-1]) and inked[-1] == 0, inked
    page.screenshot(path=output / "play-summary.png", full_page=True)
    page.context.close()
    assert console.errors == []


def test_a_solo_round_drawn_with_a_finger_on_a_phone(browser, server, output) -> None:
    page, console = open_page(
        browser, server.url + "/play", viewport={"width": 390, "height": 780}, has_touch=True, is_mobile=True
    )
    page.tap("#solo-start")
    prompt = wait_round(page, 1)
    drawing = shortest(prompt)
    place = Placement(page, drawing)
    cdp = page.context.new_cdp_session(page)
    for xs, ys, _ in drawing:
        points = [place(x, y) for x, y in zip(xs, ys, strict=True)]
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]},
        )
        for point in points[1:]:
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": "touchMove", "touchPoints": [{"x": point[0], "y": point[1]}]},
            )
            time.sleep(0.008)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        if page.is_visible("#verdict"):
            break
    page.wait_for_function(VERDICT_SHOWN, timeout=SECONDS * 1000)
    assert page.inner_text("#verdict").startswith("Oh, I know")
    assert page.evaluate("scrollY") == 0, "drawing did not scroll the page"
    page.screenshot(path=output / "play-phone.png")
    page.context.close()
    assert console.errors == []


# --- a room on a cluster --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(output: Path) -> Iterator[Balancer]:
    """Two workers behind nginx with a private Redis."""
    balancer = Balancer(output / "cluster.log", env={"ROUND_SECONDS": str(SECONDS)})
    yield balancer
    balancer.stop()


def test_a_room_with_a_board_browser_players_and_python_players(browser, cluster, output) -> None:
    # The host creates the room from /play and lands on the host page.
    host, host_console = open_page(browser, cluster.url + "/play")
    host.click("#create-room-button")
    host.wait_for_url("**/room/*/host")
    host.wait_for_selector("#status[data-state=online]")
    code = host.get_attribute("#board", "data-code")
    assert host.inner_text("#code") == rules.shown_code(code)
    assert int(host.get_attribute("#qr", "data-modules")) >= 21, "a QR code was drawn"
    board_url = host.get_attribute("#board-link", "href")
    assert board_url.startswith(f"/room/{code}/board#token=")
    board, board_console = open_page(
        browser, cluster.url + board_url, viewport={"width": 1600, "height": 900}
    )
    assert board.locator("#start-round").count() == 0, "the board has no controls"

    # Two people join in the browser (one with a hostile name), two python players on chosen workers.
    hostile = '<img src=x onerror="document.title=1">'
    players = []
    for name in ("Ada", hostile):
        page, console = open_page(
            browser, f"{cluster.url}/room/{code}", viewport={"width": 1100, "height": 800}
        )
        page.fill("#name", name)
        page.click("#join")
        page.wait_for_selector("#lobby:not([hidden])")
        players.append((page, console))
    bots = []
    for node in ("w1", "w2"):
        bot = GameClient().connect_url(
            cluster.url, ["websocket"], headers={"Cookie": f"realtime_node={node}"}
        )
        bot.emit("room_join", {"code": code, "name": f"Bot {node}"})
        assert bot.wait(lambda b=bot: b.joined, 10), bot.errors
        bots.append(bot)
    board.wait_for_function("() => document.querySelectorAll('#thumbs li').length === 4")
    names = board.locator(".thumb-name").all_inner_texts()
    assert hostile[: rules.MAX_NAME] in names, names
    assert board.locator("#thumbs img").count() == 0 and board.title() != "1", "a name is only text"
    host.screenshot(path=output / "room-host-lobby.png")

    try:
        host.click("#start-round")
        prompts = {wait_round(page, 1) for page, _ in players}
        prompts |= {bot.wait_game(lambda g: g["phase"] == "drawing")["round"]["prompt"] for bot in bots}
        assert len(prompts) == 1, prompts
        prompt = prompts.pop()
        for bot in bots:
            bot.round_ready(1)
        # A bot draws first, then Ada in the browser; the other two do not draw.
        bot_id = bots[1].joined[0]["player"]
        ada_drawing = shortest(prompt)
        bot_drawing = next(d for d in known_drawings(prompt) if d is not ada_drawing)
        bots[1].draw(bot_drawing, stop=lambda: bots[1].recognised(bot_id, 1))
        ada = players[0][0]
        replay(ada, ada_drawing, Placement(ada, ada_drawing), 1.5, stop=lambda: ada.is_visible("#verdict"))
        ada.wait_for_function(VERDICT_SHOWN, timeout=SECONDS * 1000)
        board.wait_for_function("() => document.querySelectorAll('.thumb.recognised').length === 2")
        badges = board.locator(".thumb.recognised .thumb-badge").all_inner_texts()
        assert sorted(b.split(" ")[0] for b in badges) == ["1st", "2nd"]
        first = board.locator(".thumb.recognised", has_text="1st").locator(".thumb-name").inner_text()
        assert first == "Bot w2"
        guesses = board.locator(".thumb.recognised .thumb-guess").all_inner_texts()
        assert guesses == [prompt, prompt], "the board shows the drawings that were recognised"
        inked = board.evaluate(
            """() => [...document.querySelectorAll('.thumb.recognised canvas')].map((c) => {
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n += 1; return n; })"""
        )
        assert all(n > 100 for n in inked), inked
        board.screenshot(path=output / "room-board.png")
        ada.screenshot(path=output / "room-player.png")

        host.click("#skip-round")
        board.wait_for_function("() => document.querySelector('#board').dataset.phase === 'between'")
        totals = board.locator("#scores tbody tr td.total").all_inner_texts()
        assert len(totals) == 4 and int(totals[0]) > 0 and int(totals[1]) > 0 and totals[2:] == ["0", "0"]
        host.on("dialog", lambda dialog: dialog.accept())
        host.click("#close-room")
        for page, _ in players:
            page.wait_for_selector("#summary:not([hidden])")
        assert players[0][0].locator(".drawing-card.recognised").count() == 1
        assert "ended the game" in players[1][0].inner_text("#over-reason")
        players[0][0].screenshot(path=output / "room-over.png")
    finally:
        for bot in bots:
            bot.disconnect()
    for page, console in [(host, host_console), (board, board_console), *players]:
        page.context.close()
        assert console.errors == []
