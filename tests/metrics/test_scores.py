"""Every metric and interval of METRICS.md against hand-computed cases."""

import math

import pytest

from metrics.scores import Thresholds, compare, redact_for_privacy, summarize

approx = pytest.approx


def nps_hist(promoters=0, passives=0, detractors=0):
    # Put promoters on 10, passives on 8, detractors on 3: only the group counts.
    hist = [0] * 11
    hist[10], hist[8], hist[3] = promoters, passives, detractors
    return hist


def test_nps_is_promoters_minus_detractors_with_its_normal_interval():
    # 50 promoters, 30 passives, 20 detractors: p = .5, d = .2, NPS = 30.
    figures = summarize("nps", nps_hist(50, 30, 20))
    # v = .5 + .2 - .3² = .61; SE = 100·sqrt(.61/100) = 7.8102…; ±1.96·SE = 15.308…
    se = 100 * math.sqrt(0.61 / 100)

    assert figures["n"] == 100
    assert figures["score"] == approx(30.0)
    assert figures["ci95"] == approx([30 - 1.96 * se, 30 + 1.96 * se])
    assert (figures["promoters"], figures["passives"], figures["detractors"]) == (50, 30, 20)
    assert figures["low_sample"] is False


def test_nps_groups_are_9_10_promoters_7_8_passives_0_6_detractors():
    figures = summarize("nps", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])

    assert (figures["promoters"], figures["passives"], figures["detractors"]) == (2, 2, 7)
    assert figures["score"] == approx(100 * (2 - 7) / 11)


def test_all_promoters_is_100_with_a_zero_width_interval():
    figures = summarize("nps", nps_hist(promoters=40))

    assert figures["score"] == 100
    assert figures["ci95"] == [100, 100]


def test_all_detractors_is_minus_100():
    figures = summarize("nps", nps_hist(detractors=7))

    assert figures["score"] == -100
    assert figures["ci95"] == [-100, -100]
    assert figures["low_sample"] is True


def test_the_nps_interval_is_clipped_to_its_scale():
    # 9 promoters, 1 detractor: NPS 80, SE = 100·sqrt((.9+.1-.64)/10) = 18.97…, upper > 100.
    figures = summarize("nps", nps_hist(promoters=9, detractors=1))

    assert figures["ci95"][1] == 100
    assert figures["ci95"][0] == approx(80 - 1.96 * 100 * math.sqrt(0.36 / 10))


def test_one_answer_gives_a_score_and_a_degenerate_interval():
    figures = summarize("nps", nps_hist(passives=1))

    assert figures["n"] == 1
    assert figures["score"] == 0
    assert figures["ci95"] == [0, 0]


@pytest.mark.parametrize("kind", ["nps", "csat", "ces"])
def test_no_answers_means_no_score(kind):
    figures = summarize(kind, [0] * {"nps": 11, "csat": 5, "ces": 7}[kind])

    assert figures["n"] == 0
    assert figures["score"] is None
    assert figures["ci95"] is None


def test_csat_is_the_share_of_4_and_5_with_a_wilson_interval():
    # 10 × 1, 14 × 2, 50 × 3, 150 × 4, 176 × 5 (the API example): 326/400 satisfied.
    figures = summarize("csat", [10, 14, 50, 150, 176])
    p, n, z = 326 / 400, 400, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)

    assert figures["score"] == approx(81.5)
    assert figures["ci95"] == approx([100 * (centre - half), 100 * (centre + half)])
    assert figures["mean"] == approx((10 + 28 + 150 + 600 + 880) / 400)


def test_csat_of_one_satisfied_answer_has_a_wide_wilson_interval():
    figures = summarize("csat", [0, 0, 0, 0, 1])
    # Wilson for 1/1: lower = 1/(1 + z²) = 0.2065…, upper = 1.
    assert figures["score"] == 100
    assert figures["ci95"] == approx([100 / (1 + 1.96**2), 100])


def test_ces_is_the_mean_with_a_t_interval_and_the_easy_share():
    # Answers 5, 6, 7, 7: mean 6.25, s = sqrt(((−1.25)² + (−.25)² + 2·.75²)/3) = 0.9574…
    figures = summarize("ces", [0, 0, 0, 0, 1, 1, 2])
    s = math.sqrt((1.25**2 + 0.25**2 + 2 * 0.75**2) / 3)
    half = 3.182446305284263 * s / 2  # t(0.975, 3) = 3.1824…

    assert figures["score"] == approx(6.25)
    assert figures["ci95"] == approx([6.25 - half, min(6.25 + half, 7)])
    assert figures["ci95"][1] == 7
    assert figures["easy_share"] == approx(100)


def test_ces_has_no_interval_below_two_answers():
    figures = summarize("ces", [0, 0, 1, 0, 0, 0, 0])

    assert figures["score"] == 3
    assert figures["ci95"] is None
    assert figures["easy_share"] == 0


def test_low_sample_follows_the_organizations_threshold():
    assert summarize("nps", nps_hist(promoters=29))["low_sample"] is True
    assert summarize("nps", nps_hist(promoters=30))["low_sample"] is False
    assert (
        summarize("nps", nps_hist(promoters=12), Thresholds(low_sample=10))["low_sample"] is False
    )


def test_below_the_privacy_threshold_only_n_and_low_sample_remain():
    shown = redact_for_privacy(summarize("nps", nps_hist(promoters=3, detractors=1)))

    assert shown["n"] == 4
    assert shown["low_sample"] is True
    assert all(v is None for k, v in shown.items() if k not in ("n", "low_sample"))


def test_a_difference_is_real_only_when_z_reaches_1_96():
    chain = summarize("nps", nps_hist(500, 300, 200))  # NPS 30
    worse = summarize("nps", nps_hist(30, 30, 40))  # NPS −10
    similar = summarize("nps", nps_hist(26, 20, 14))  # NPS 20

    far, near = compare(worse, chain), compare(similar, chain)

    expected_z = (-10 - 30) / math.sqrt(worse["_se"] ** 2 + chain["_se"] ** 2)
    assert far["z"] == approx(expected_z)
    assert far["real"] is True
    assert near["real"] is False


def test_a_histogram_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError):
        summarize("csat", [1, 2, 3])
