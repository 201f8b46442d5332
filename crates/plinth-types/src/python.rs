//! Values as Python writes them, for messages that must read as MLflow's (its server is
//! Python) and for showing values the way the mlflow client's users print them.

/// Renders a float as Python's `repr(float)` does: the shortest digits that read back as
/// the same double, in fixed notation from 1e-4 up to 1e16 (`0.0001`, `2.0`, `-0.0`) and in
/// exponent notation beyond (`1e+20`, `1.5e-07`); `nan`, `inf`, `-inf`. MLflow's messages
/// and Python users see values this way.
pub fn python_float(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let abs = value.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python: `1e+20`, `1.5e-07`.
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        return format!(
            "{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
    let text = format!("{value:?}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::python_float;

    #[test]
    fn floats_are_written_as_python_repr_writes_them() {
        for (value, text) in [
            (5.5, "5.5"),
            (2.0, "2.0"),
            (-0.0, "-0.0"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (123_456_789.123_456_79, "123456789.12345679"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(python_float(value), text);
        }
    }
}
