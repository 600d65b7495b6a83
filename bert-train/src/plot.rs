//! `metrics.png`: a run's loss curves and validation metrics against the optimizer step, drawn
//! with plotters at the end of a run from the same rows as `metrics.csv`.
//!
//! Text (titles, ticks, legends) needs a TrueType font: `$BERT_PLOT_FONT`, else the first of a
//! few usual system paths (DejaVu Sans, Liberation Sans, Arial). Without one the curves and the
//! grid are still drawn, without text.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// One curve: its name and `(step, value)` points.
pub type Series = (String, Vec<(f64, f64)>);

/// A panel of the figure: a title and its curves.
pub struct Panel {
    /// Shown above the panel.
    pub title: String,
    /// The curves.
    pub series: Vec<Series>,
    /// Curves that mostly rise (metrics) get their legend in the upper left, falling ones
    /// (losses) in the upper right, where the curves seldom are.
    pub rising: bool,
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system font once; true when text can be drawn.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let from_env = std::env::var("BERT_PLOT_FONT").ok();
        let candidates = from_env
            .iter()
            .map(String::as_str)
            .chain(FONT_PATHS.iter().copied());
        for path in candidates {
            if let Ok(bytes) = std::fs::read(path) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `panels` side by side into a PNG at `path` (written whole, then renamed into place).
pub fn draw(path: &Path, panels: &[Panel]) -> Result<(), String> {
    // Only finite points are drawn; panels left with none are dropped.
    let panels: Vec<Panel> = panels
        .iter()
        .map(|p| Panel {
            title: p.title.clone(),
            series: (p.series.iter())
                .map(|(name, pts)| {
                    let finite = pts.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
                    (name.clone(), finite.copied().collect())
                })
                .collect(),
            rising: p.rising,
        })
        .filter(|p| p.series.iter().any(|(_, pts)| !pts.is_empty()))
        .collect();
    if panels.is_empty() {
        return Err("nothing to plot".into());
    }
    let text = font_ready();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    let width = 640 * panels.len() as u32;
    {
        let root = BitMapBackend::new(&tmp, (width, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((1, panels.len()));
        // One step axis for every panel: the whole run.
        let steps = panels
            .iter()
            .flat_map(|p| p.series.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.0)));
        let (x0, x1) = steps.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let x0 = x0.min(0.0);
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(area, panel, (x0, x1), text)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
    (x0, x1): (f64, f64),
    text: bool,
) -> Result<(), String> {
    let values = panel.series.iter().flat_map(|(_, p)| p.iter().map(|p| p.1));
    let (y0, y1) = values.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    if y0 > y1 || x0 > x1 {
        return Ok(());
    }
    // Some room around single points and flat curves.
    let pad_x = ((x1 - x0) * 0.02).max(0.5);
    let pad_y = ((y1 - y0) * 0.05).max(1e-3);
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder
            .caption(&panel.title, ("sans-serif", 20))
            .x_label_area_size(36)
            .y_label_area_size(56);
    }
    let mut chart = builder
        .build_cartesian_2d((x0 - pad_x)..(x1 + pad_x), (y0 - pad_y)..(y1 + pad_y))
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"));
    } else {
        mesh.disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for (i, (name, pts)) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line = chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            line.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
        // Evaluations are few: mark each one.
        if pts.len() <= 50 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(if panel.rising {
                SeriesLabelPosition::UpperLeft
            } else {
                SeriesLabelPosition::UpperRight
            })
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_png_with_two_panels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.png");
        let loss: Vec<(f64, f64)> = (1..=20).map(|s| (s as f64, 1.0 / s as f64)).collect();
        let panels = [
            Panel {
                title: "loss".into(),
                series: vec![
                    ("train".into(), loss),
                    ("validation".into(), vec![(20.0, 0.3)]),
                ],
                rising: false,
            },
            Panel {
                title: "validation".into(),
                series: vec![("accuracy".into(), vec![(10.0, 0.7), (20.0, 0.8)])],
                rising: true,
            },
        ];
        draw(&path, &panels).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // 1280 x 480, as the IHDR chunk says.
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1280);
        assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 480);
    }

    #[test]
    fn refuses_an_empty_figure() {
        let dir = tempfile::tempdir().unwrap();
        let err = draw(&dir.path().join("m.png"), &[]).unwrap_err();
        assert!(err.contains("nothing"));
    }
}
