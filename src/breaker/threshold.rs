//! Trip thresholds held exactly: a share in whole basis points, compared in integers.
//!
//! A share given as a float (`0.07`) is rounded once, when the breaker is built, to the nearest
//! basis point (700 of 10 000); every later comparison is `part · 10 000 ≥ points · whole` in
//! integers, so "at least 7 %" trips at exactly 7 failures of 100 (in floats, `0.07 * 100.0` is
//! `7.000000000000001`, and 7 failures would not reach it).

/// Basis points in a whole.
pub(crate) const WHOLE: u32 = 10_000;

/// "At least this share": a threshold in basis points, in `1..=10 000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Threshold {
    points: u32,
}

impl Threshold {
    /// The share `rate` rounded to the nearest basis point, if it is in (0, 1] and rounds to at
    /// least one basis point.
    pub(crate) fn from_share(rate: f64) -> Option<Self> {
        if !(rate > 0.0 && rate <= 1.0) {
            return None;
        }
        let points = (rate * f64::from(WHOLE)).round() as u32;
        (points >= 1).then_some(Threshold { points })
    }

    /// Whether `part` of `whole` is at least the threshold (never for an empty whole).
    #[inline]
    pub(crate) fn reached(self, part: u64, whole: u64) -> bool {
        whole > 0
            && u128::from(part) * u128::from(WHOLE) >= u128::from(self.points) * u128::from(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_to_basis_points() {
        assert_eq!(Threshold::from_share(0.07), Some(Threshold { points: 700 }));
        assert_eq!(
            Threshold::from_share(0.56),
            Some(Threshold { points: 5600 })
        );
        assert_eq!(
            Threshold::from_share(1.0),
            Some(Threshold { points: WHOLE })
        );
        assert_eq!(
            Threshold::from_share(0.00005),
            Some(Threshold { points: 1 })
        );
        for bad in [0.0, -0.1, 1.01, 0.00004, f64::NAN, f64::INFINITY] {
            assert_eq!(Threshold::from_share(bad), None, "{bad}");
        }
    }

    #[test]
    fn exact_at_the_threshold() {
        let seven = Threshold::from_share(0.07).unwrap();
        assert!(seven.reached(7, 100));
        assert!(!seven.reached(6, 100));
        assert!(!seven.reached(0, 0), "an empty window never trips");
        let all = Threshold::from_share(1.0).unwrap();
        assert!(all.reached(u64::MAX, u64::MAX), "no overflow");
        assert!(!all.reached(u64::MAX - 1, u64::MAX));
    }
}
