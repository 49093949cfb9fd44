//! The museum's demo catalogue: the building's four daily entry slots, the children's hall, two
//! activities and a dome theatre showing two films. Loaded on first start so that the first
//! README command shows a working museum.

use jiff::civil::Time;

use crate::catalogue::{ProductKind, ProductRules, ProductSpec};

/// A product of the demo catalogue with what it needs to be bookable.
#[derive(Debug, Clone)]
pub struct DemoProduct {
    pub spec: ProductSpec,
    pub ticket_types: Vec<(&'static str, u32)>,
    pub notice: &'static str,
    /// Daily slots: start, end, capacity.
    pub daily_slots: Vec<(Time, Time, u32)>,
}

/// The dome theatre's seats: rows A–O of 20 seats with an aisle after the tenth, the last row's
/// first two a wheelchair place and its companion seat — 300 seats, the showings' capacity.
pub const DOME_THEATRE: &str = "dome";

pub fn dome_seat_map() -> crate::seats::SeatMapLayout {
    let rows = "ABCDEFGHIJKLMNO";
    crate::seats::SeatMapLayout {
        rows: rows
            .chars()
            .map(|label| crate::seats::RowLayout {
                label: label.to_string(),
                cells: (1..=20)
                    .flat_map(|n| {
                        let seat = match (label, n) {
                            ('O', 1) => "1w".to_owned(),
                            ('O', 2) => "2c".to_owned(),
                            _ => n.to_string(),
                        };
                        let aisle = (n == 10).then(|| "_".to_owned());
                        std::iter::once(seat).chain(aisle)
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// How many days ahead of today the demo catalogue has slots for.
pub const DEMO_DAYS: i64 = 7;

fn t(h: i8, m: i8) -> Time {
    Time::constant(h, m, 0, 0)
}

const ENTRY_NOTICE: &str = "参观须知 Visiting notice\n1. 每位观众凭本人有效证件预约，一人一票。Each visitor books with their own ID; one ticket per person.\n2. 请按预约时段入馆，迟到超过30分钟需重新预约。Enter within your slot; more than 30 minutes late needs a new booking.\n3. 预约后未到馆累计3次将暂停预约资格30天。Three no-shows within 90 days lock booking for 30 days.";

fn spec(kind: ProductKind, name: &str, intro: &str, rules: ProductRules) -> ProductSpec {
    ProductSpec {
        kind,
        name: name.into(),
        introduction: intro.into(),
        theatre_type: None,
        film: None,
        featured: kind != ProductKind::Entry,
        rules,
    }
}

fn film(name: &str, intro: &str) -> ProductSpec {
    ProductSpec {
        theatre_type: Some("dome".into()),
        film: Some(name.into()),
        ..spec(
            ProductKind::Cinema,
            &format!("球幕影院：{name}"),
            intro,
            ProductRules {
                id_limit_per_day: 2,
                ..ProductRules::default()
            },
        )
    }
}

pub fn catalogue() -> Vec<DemoProduct> {
    vec![
        DemoProduct {
            spec: ProductSpec {
                featured: false,
                ..spec(
                    ProductKind::Entry,
                    "科技馆入馆预约",
                    "Museum entry: timed, real-name, free admission.",
                    ProductRules::default(),
                )
            },
            ticket_types: vec![
                ("个人参观 Individual visit", 0),
                ("儿童 Child", 0),
                ("老年人 Senior", 0),
            ],
            notice: ENTRY_NOTICE,
            daily_slots: vec![
                (t(9, 0), t(10, 30), 2500),
                (t(10, 30), t(12, 0), 2500),
                (t(13, 0), t(14, 30), 2500),
                (t(14, 30), t(16, 0), 2500),
            ],
        },
        DemoProduct {
            spec: spec(
                ProductKind::Hall,
                "儿童科学乐园",
                "The children's science hall, for ages 3 to 10 with an accompanying adult.",
                ProductRules::default(),
            ),
            ticket_types: vec![("儿童 Child", 0), ("陪同成人 Accompanying adult", 0)],
            notice: "儿童科学乐园须知：儿童须由成人陪同。Children must be accompanied by an adult.",
            daily_slots: vec![
                (t(9, 30), t(11, 0), 300),
                (t(11, 0), t(12, 30), 300),
                (t(13, 30), t(15, 0), 300),
                (t(15, 0), t(16, 30), 300),
            ],
        },
        DemoProduct {
            spec: spec(
                ProductKind::Activity,
                "机器人编程工作坊",
                "Robot programming workshop, ages 8 and up.",
                ProductRules {
                    max_visitors_per_order: 2,
                    ..ProductRules::default()
                },
            ),
            ticket_types: vec![("学员 Participant", 2000)],
            notice: "工作坊须知：请提前10分钟到场签到。Please check in 10 minutes early.",
            daily_slots: vec![(t(10, 0), t(11, 0), 30), (t(14, 0), t(15, 0), 30)],
        },
        DemoProduct {
            spec: spec(
                ProductKind::Activity,
                "科学秀：液氮实验",
                "Science show: the cold world of liquid nitrogen.",
                ProductRules::default(),
            ),
            ticket_types: vec![("观众 Audience", 0)],
            notice: "科学秀须知：演出开始后不再入场。No entry once the show has started.",
            daily_slots: vec![(t(11, 0), t(11, 30), 200), (t(15, 0), t(15, 30), 200)],
        },
        DemoProduct {
            spec: film(
                "宇宙之旅",
                "Journey through the universe, on the dome screen.",
            ),
            ticket_types: vec![("成人 Adult", 3000), ("儿童 Child", 1500)],
            notice: "影院须知：开场后不再入场，请勿携带食物。No entry after the start; no food.",
            daily_slots: vec![
                (t(10, 0), t(10, 45), 300),
                (t(13, 0), t(13, 45), 300),
                (t(15, 0), t(15, 45), 300),
            ],
        },
        DemoProduct {
            spec: film("深海奇观", "Wonders of the deep sea, on the dome screen."),
            ticket_types: vec![("成人 Adult", 3000), ("儿童 Child", 1500)],
            notice: "影院须知：开场后不再入场，请勿携带食物。No entry after the start; no food.",
            daily_slots: vec![
                (t(11, 0), t(11, 45), 300),
                (t(14, 0), t(14, 45), 300),
                (t(16, 0), t(16, 45), 300),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_catalogue_is_the_museums_and_valid() {
        let c = catalogue();
        let entry: Vec<_> = c
            .iter()
            .filter(|p| p.spec.kind == ProductKind::Entry)
            .collect();
        assert_eq!(entry.len(), 1);
        assert_eq!(entry[0].daily_slots.len(), 4);
        assert_eq!(
            c.iter()
                .filter(|p| p.spec.kind == ProductKind::Cinema)
                .count(),
            2
        );
        assert_eq!(
            c.iter()
                .filter(|p| p.spec.kind == ProductKind::Activity)
                .count(),
            2
        );
        for p in &c {
            p.spec.validate().unwrap();
            assert!(!p.ticket_types.is_empty());
        }
    }

    #[test]
    fn the_dome_has_a_seat_for_each_place_of_its_showings() {
        let map = crate::seats::SeatMap::parse(&dome_seat_map()).unwrap();
        let seats: usize = map
            .rows
            .iter()
            .map(|r| {
                r.cells
                    .iter()
                    .filter(|c| !matches!(c, crate::seats::Cell::Aisle))
                    .count()
            })
            .sum();
        let capacity = catalogue()
            .into_iter()
            .find(|p| p.spec.theatre_type.as_deref() == Some(DOME_THEATRE))
            .and_then(|p| p.daily_slots.first().map(|s| s.2));
        assert_eq!(Some(seats as u32), capacity);
    }
}
