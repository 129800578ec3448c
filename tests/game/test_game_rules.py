"""The game's rules (realtime.game.rules): prompts, rounds, recognition, scores, names, codes and the clock's
transitions. The stores' contract, on a real redis-server too, is in tests/services/test_game_stores.py.
"""

from __future__ import annotations

import itertools

import pytest

from realtime.game import rules
from realtime.game.rules import Game
from tests.support.games import LABELS, T0, TIMING, make_game, refused

# --- rules ----------------------------------------------------------------------------------------------


def test_prompts_do_not_repeat_until_every_label_was_used() -> None:
    game = make_game(rounds=20)
    prompts = []
    for i in range(18):
        prompts.append(game.start_round(T0 + i).prompt)
        game.end_round(T0 + i + 0.5)
    for start in range(0, 18, 6):
        assert sorted(prompts[start : start + 6]) == sorted(LABELS)
    assert all(a != b for a, b in itertools.pairwise(prompts)), "a prompt came twice in a row"


def test_recognition_counts_only_for_the_current_round_in_time_and_once() -> None:
    game = make_game()
    a = game.add_player("Ann", "ta", "sid-a", 60)
    b = game.add_player("Bob", "tb", "sid-b", 60)
    assert game.recognise(a.id, 1, T0) is None, "no round yet"
    current = game.start_round(T0)
    assert game.recognise(a.id, 2, T0 + 1) is None, "another round"
    assert game.recognise(a.id, 1, current.ends_at + 0.01) is None, "too late"
    gained = game.recognise(a.id, 1, T0 + 2.0)
    assert gained == rules.points(2000, 20.0) == 10 + round(90 * 0.9)
    assert game.recognise(a.id, 1, T0 + 3.0) is None, "twice"
    assert game.players[a.id].score == gained
    assert game.phase == "drawing", "Bob is still drawing"
    game.recognise(b.id, 1, T0 + 10.0)
    assert game.phase == "between", "everyone connected was recognised: the round ends at once"
    assert list(game.current.recognised) == [a.id, b.id]
    assert game.current.recognised[b.id] == 10_000


def test_a_round_goes_on_when_a_player_drops_out_of_it() -> None:
    game = make_game()
    a = game.add_player("Ann", "ta", "sid-a", 60)
    b = game.add_player("Bob", "tb", "sid-b", 60)
    game.start_round(T0)
    game.recognise(a.id, 1, T0 + 1)
    game.leave("sid-b", T0 + 2)
    assert game.phase == "drawing", "Bob may be back within the round"
    game.seat(game.player_by_token(b.id, "tb"), "sid-b2")
    game.recognise(b.id, 1, T0 + 4)
    assert game.phase == "between"


def test_the_last_round_ends_the_game_and_no_round_starts_after_it() -> None:
    game = make_game(rounds=2)
    game.start_round(T0)
    game.end_round(T0 + 1)
    game.start_round(T0 + 2)
    game.end_round(T0 + 3)
    assert (game.phase, game.reason) == ("over", "finished")
    refused("room_over", game.start_round, T0 + 4)


def test_a_round_cannot_start_while_one_runs_and_only_a_running_round_ends() -> None:
    game = make_game()
    refused("no_round", game.end_round, T0)
    game.start_round(T0)
    refused("round_running", game.start_round, T0 + 1)


def test_solo_rounds_follow_each_other_on_the_clock() -> None:
    game = make_game(mode="solo", seconds=10.0)
    game.add_player("You", "t", "sid", 1)
    game.start_round(T0)
    assert game.deadline(TIMING) == T0 + 10.0
    assert not game.tick(TIMING, T0 + 9.9)
    assert game.phase == "drawing"
    assert not game.tick(TIMING, T0 + 10.0)
    assert game.phase == "between" and game.deadline(TIMING) == T0 + 10.0 + rules.BREAK_S
    game.tick(TIMING, T0 + 10.0 + rules.BREAK_S)
    assert game.phase == "drawing" and game.current.index == 2


def test_a_room_ends_when_its_host_stays_away_and_is_forgotten_when_empty() -> None:
    game = make_game()
    game.add_host("host-sid")
    game.add_player("Ann", "ta", "sid-a", 60)
    game.leave("host-sid", T0 + 1)
    game.tick(TIMING, T0 + 1 + TIMING.host_grace_s - 0.1)
    assert game.phase == "lobby", "the host may come back within the grace"
    game.add_host("host-sid-2")
    game.tick(TIMING, T0 + 1 + TIMING.host_grace_s + 1)
    assert game.phase == "lobby", "the host came back"
    game.leave("host-sid-2", T0 + 40)
    game.tick(TIMING, T0 + 40 + TIMING.host_grace_s)
    assert (game.phase, game.reason) == ("over", "host_left")
    game.leave("sid-a", T0 + 80)
    assert game.empty_at == T0 + 80
    assert not game.tick(TIMING, T0 + 80 + TIMING.empty_s - 1)
    assert game.tick(TIMING, T0 + 80 + TIMING.empty_s), "empty for long enough: deleted"


def test_an_idle_room_ends() -> None:
    game = make_game()
    game.add_host("host-sid")
    assert game.deadline(TIMING) == T0 + TIMING.idle_s
    game.tick(TIMING, T0 + TIMING.idle_s)
    assert (game.phase, game.reason) == ("over", "idle")


def test_a_full_or_finished_room_takes_no_one() -> None:
    game = make_game()
    game.add_player("Ann", "ta", "sid-a", 2)
    game.add_player("Bob", "tb", "sid-b", 2)
    refused("room_full", game.add_player, "Cy", "tc", "sid-c", 2)
    game.leave("sid-b", T0)
    game.add_player("Cy", "tc", "sid-c", 2)  # two play at once; Bob keeps his place to come back
    game.leave("sid-c", T0)
    game.add_player("Dee", "td", "sid-d", 2)
    game.leave("sid-d", T0)
    # Places kept for players who left: as many again as may play, no more.
    refused("room_full", game.add_player, "Eve", "te", "sid-e", 2)
    game.finish("closed", T0)
    refused("room_over", game.add_player, "Fay", "tf", "sid-f", 60)


def test_tokens_are_checked_and_never_shown() -> None:
    game = make_game(token="the-host-token")
    player = game.add_player("Ann", "ann-token", "sid-a", 60)
    assert game.is_host("the-host-token") and not game.is_host("guess") and not game.is_host(None)
    assert game.player_by_token(player.id, "ann-token") is player
    refused("bad_token", game.player_by_token, player.id, "wrong")
    refused("bad_token", game.player_by_token, "nobody", "ann-token")
    refused("bad_token", game.player_by_token, ["not", "a", "string"], "ann-token")
    for crafted in ("\ud800", "é" * 10, "x" * 65, "", 7, None, ["ann-token"]):
        assert not game.is_host(crafted) and not game.may_watch(crafted)
        refused("bad_token", game.player_by_token, player.id, crafted)
    assert not game.may_watch("the-board-token"), "no board token was set"
    game.board = rules.token_hash("the-board-token")
    assert game.may_watch("the-board-token") and game.may_watch("the-host-token")
    assert not game.is_host("the-board-token")
    text = str(game.view(T0))
    for secret in ("the-host-token", "ann-token", game.host, player.token, "sid-a"):
        assert secret not in text


def test_a_player_who_comes_back_keeps_name_and_score() -> None:
    game = make_game()
    player = game.add_player("Ann", "ta", "sid-a", 60)
    game.start_round(T0)
    game.recognise(player.id, 1, T0 + 1)
    game.leave("sid-a", T0 + 2)
    assert not game.view(T0 + 2)["players"][0]["connected"]
    game.seat(game.player_by_token(player.id, "ta"), "sid-a2")
    shown = game.view(T0 + 3)["players"][0]
    assert shown == {"id": player.id, "name": "Ann", "score": rules.points(1000, 20.0), "connected": True}


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("  Ann  ", "Ann"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"[: rules.MAX_NAME]),
        ("a\u202eb\u200bc\x00d", "abcd"),
        ("tab\tand\nnewline", "tab and newline"),
        ("x" * 100, "x" * rules.MAX_NAME),
        ("🦒 Gina", "🦒 Gina"),
    ],
)
def test_names_are_cleaned_and_capped(raw: str, name: str) -> None:
    assert rules.clean_name(raw) == name


@pytest.mark.parametrize("raw", ["", "   ", "\u200b\u200b", None, 42, "x" * 500, ["Ann"]])
def test_empty_or_non_text_names_are_refused(raw: object) -> None:
    refused("bad_name", rules.clean_name, raw)


def test_codes_are_random_in_the_alphabet_and_read_forgivingly() -> None:
    codes = {rules.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == rules.CODE_LENGTH and set(c) <= set(rules.CODE_ALPHABET) for c in codes)
    code = next(iter(codes))
    shown = rules.shown_code(code)
    assert rules.parse_code(shown.lower()) == code
    assert rules.parse_code(f" {code[:4]} {code[4:]} ") == code
    for bad in ("", "KQ7M", "O0O0-O0O0", "KQ7M-XPDA-EXTRA", 12345678, None, "x" * 100):
        refused("bad_code", rules.parse_code, bad)


def test_a_game_survives_its_json() -> None:
    game = make_game()
    player = game.add_player("Ann", "ta", "sid-a", 60)
    game.add_host("h")
    game.start_round(T0)
    game.recognise(player.id, 1, T0 + 1)
    again = Game.from_json(game.to_json())
    assert again == game
