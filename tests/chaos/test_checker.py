"""Unit tests of the chaos checker on hand-made histories (python3 -m unittest, no processes)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
from checker import Op  # noqa: E402


def put(text, start, end, status=200, user="u", version=None, wall=None):
    w0, w1 = (wall or (None, None))
    return Op("put", user, start, end, status, text=text, version=version, wall_start=w0,
              wall_end=w1)


def delete(start, end, status=204, user="u"):
    return Op("delete", user, start, end, status)


def final(text, version=None):
    return {"statusText": text, "version": version}


def lost_texts(ops, state):
    _, lost = checker.check(ops, state)
    return sorted((o.text if o.kind == "put" else "<delete>") for _, o in lost)


class FinalState(unittest.TestCase):
    def test_sequential_writes_final_is_the_last(self):
        ops = [put("a", 0, 1), put("b", 2, 3), put("c", 4, 5)]
        self.assertEqual(lost_texts(ops, {"u": final("c")}), [])

    def test_sequential_writes_final_is_an_older_one_loses_the_last(self):
        ops = [put("a", 0, 1), put("b", 2, 3), put("c", 4, 5)]
        # b is superseded by c anyway: one write is lost, not two.
        self.assertEqual(lost_texts(ops, {"u": final("a")}), ["c"])
        self.assertEqual(lost_texts(ops, {"u": final("b")}), ["c"])

    def test_overlapping_writes_either_may_win(self):
        ops = [put("a", 0, 3), put("b", 1, 2)]
        self.assertEqual(lost_texts(ops, {"u": final("a")}), [])
        self.assertEqual(lost_texts(ops, {"u": final("b")}), [])

    def test_two_concurrent_last_writes_both_lost_if_an_older_value_remains(self):
        ops = [put("a", 0, 1), put("b", 2, 4), put("c", 3, 5)]
        self.assertEqual(lost_texts(ops, {"u": final("a")}), ["b", "c"])

    def test_acked_delete_last_means_absent(self):
        ops = [put("a", 0, 1), delete(2, 3)]
        self.assertEqual(lost_texts(ops, {}), [])
        self.assertEqual(lost_texts(ops, {"u": final("a")}), ["<delete>"])

    def test_write_after_delete_must_survive(self):
        ops = [put("a", 0, 1), delete(2, 3), put("b", 4, 5)]
        self.assertEqual(lost_texts(ops, {"u": final("b")}), [])
        self.assertEqual(lost_texts(ops, {}), ["b"])

    def test_absent_without_any_delete_loses_the_acked_write(self):
        self.assertEqual(lost_texts([put("a", 0, 1)], {}), ["a"])

    def test_delete_answered_404_may_explain_absence(self):
        # The gateway's retry of a delete whose first attempt committed finds nothing: 404.
        ops = [put("a", 0, 1), delete(2, 3, status=404)]
        self.assertEqual(lost_texts(ops, {}), [])
        self.assertEqual(lost_texts(ops, {"u": final("a")}), [])  # need not survive
        ops = [put("a", 0, 1), delete(2, 3, status=404), put("b", 4, 5)]
        self.assertEqual(lost_texts(ops, {}), ["b"])

    def test_never_written_user_absent_is_fine(self):
        self.assertEqual(lost_texts([put("a", 0, 1, status=503)], {}), [])
        self.assertEqual(lost_texts([delete(0, 1, status=404)], {}), [])

    def test_indeterminate_write_may_win_over_later_acked_ones(self):
        # A timed-out write may have been committed later (a frozen node resumed).
        ops = [put("a", 0, 5, status=None), put("b", 6, 7)]
        self.assertEqual(lost_texts(ops, {"u": final("a")}), [])
        self.assertEqual(lost_texts(ops, {"u": final("b")}), [])

    def test_indeterminate_delete_may_explain_absence(self):
        ops = [put("a", 0, 1), delete(2, 7, status=504)]
        self.assertEqual(lost_texts(ops, {}), [])

    def test_refused_write_cannot_be_the_final_value(self):
        ops = [put("a", 0, 1), put("b", 2, 3, status=400)]
        self.assertEqual(lost_texts(ops, {"u": final("b")}), ["a"])

    def test_phantom_final_value_loses_everything_in_the_frontier(self):
        ops = [put("a", 0, 1), put("b", 0.5, 2)]
        verdicts, lost = checker.check(ops, {"u": final("zzz")})
        self.assertEqual(sorted(o.text for _, o in lost), ["a", "b"])
        self.assertIsNone(verdicts[0].explained_by)

    def test_final_state_of_an_unwritten_user_is_a_phantom(self):
        verdicts, lost = checker.check([], {"x": final("zzz")})
        self.assertEqual(lost, [])
        self.assertTrue(verdicts[0].notes)

    def test_inversions_within_eps_are_tolerated(self):
        ops = [put("a", 0, 1.0), put("b", 1.001, 2)]
        self.assertEqual(lost_texts(ops, {"u": final("a")}), [])
        ops = [put("a", 0, 1.0), put("b", 1.01, 2)]
        self.assertEqual(lost_texts(ops, {"u": final("a")}), ["b"])

    def test_users_are_independent(self):
        ops = [put("a", 0, 1, user="x"), put("b", 2, 3, user="y"), put("c", 4, 5, user="x")]
        self.assertEqual(lost_texts(ops, {"x": final("c"), "y": final("b")}), [])
        self.assertEqual(lost_texts(ops, {"x": final("a"), "y": final("b")}), ["c"])
        self.assertEqual(lost_texts(ops, {"x": final("c")}), ["b"])

    def test_second_execution_of_a_write_is_noted(self):
        ops = [put("a", 0, 1, version="0000000000010000.n1"), put("b", 2, 3)]
        verdicts, lost = checker.check(ops, {"u": final("a", "0000000000090000.n2")})
        self.assertEqual([o.text for _, o in lost], ["b"])
        self.assertIn("second execution", " ".join(verdicts[0].notes))


def v(ms, node="n1", counter=0):
    return f"{(ms << 16) | counter:016x}.{node}"


class Evidence(unittest.TestCase):
    def test_version_ms(self):
        self.assertEqual(checker.version_ms(v(1764065700000)), 1764065700000)
        self.assertLess(checker.version_key(v(5, "n1")), checker.version_key(v(5, "n2")))
        self.assertLess(checker.version_key(v(5, "n9", 3)), checker.version_key(v(6, "n1")))

    def test_clock_skewed_loss_is_attributed(self):
        t = 1764065700.0
        a = put("a", 0, 1, version=v(int((t + 5) * 1000)), wall=(t, t + 1))  # stamped 5 s ahead
        b = put("b", 2, 3, version=v(int((t + 2.5) * 1000)), wall=(t + 2, t + 3))
        ops = [a, b]
        verdicts, lost = checker.check(ops, {"u": final("a", a.version)})
        self.assertEqual(len(lost), 1)
        d = checker.describe_lost(lost[0][0], lost[0][1], {"u": ops})
        self.assertTrue(d["clock_skewed"], d)
        honest = put("a", 0, 1, version=v(int((t + 0.5) * 1000)), wall=(t, t + 1))
        verdicts, lost = checker.check([honest, b], {"u": final("a", honest.version)})
        d = checker.describe_lost(lost[0][0], lost[0][1], {"u": [honest, b]})
        self.assertFalse(d["clock_skewed"], d)

    def test_version_inversions(self):
        a = put("a", 0, 1, version=v(100))
        b = put("b", 2, 3, version=v(50))     # started after a's ack, ordered before it
        c = put("c", 2.5, 4, version=v(200))
        self.assertEqual([(x.text, y.text) for x, y in checker.version_inversions([a, b, c])],
                         [("a", "b")])
        self.assertEqual(checker.version_inversions([a, c]), [])
        overlapping = put("d", 0.5, 3, version=v(50))   # overlaps a: no order required
        self.assertEqual(checker.version_inversions([a, overlapping]), [])

    def test_phantom_reads(self):
        ops = {"u": [put("a", 0, 1), put("b", 5, 6)]}
        reads = [("u", "a", 2), ("u", "b", 4.9), ("u", "b", 5.5), ("u", "zzz", 9), ("w", "a", 9)]
        self.assertEqual(checker.check_reads(reads, ops),
                         [("u", "b", 4.9), ("u", "zzz", 9), ("w", "a", 9)])


if __name__ == "__main__":
    unittest.main()
