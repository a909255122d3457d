//! The operation mix: which requests a benchmark session sends, and in what proportions.
//!
//! A mix is written `name=weight,name=weight,...` (`create=10,set=10,get=80`). Weights are
//! relative (they need not add up to 100); a name without `=weight` has weight 1, so `--mix get`
//! sends only `getData`. Parsing never panics and refuses unknown names, repeated names and a
//! mix whose weights are all zero.

use std::fmt;

/// One kind of request a session can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `create` of a new persistent znode under `/zk-bench/new`, with the payload.
    Create,
    /// `setData` of a random key, any version, with the payload.
    SetData,
    /// `getData` of a random key, no watch.
    GetData,
    /// `exists` of a random key, no watch.
    Exists,
    /// `getChildren` of a random key (keys have no children), no watch.
    GetChildren,
    /// `delete` of the oldest znode this session created and has not deleted yet.
    Delete,
    /// `multi` of `--multi-ops` `setData` operations on random keys.
    Multi,
}

impl Operation {
    /// Every operation, in the order reports list them.
    pub const ALL: [Operation; 7] = [
        Operation::Create,
        Operation::SetData,
        Operation::GetData,
        Operation::Exists,
        Operation::GetChildren,
        Operation::Delete,
        Operation::Multi,
    ];

    /// ZooKeeper's name for the request (`setData`, `getChildren`, ...), used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::SetData => "setData",
            Operation::GetData => "getData",
            Operation::Exists => "exists",
            Operation::GetChildren => "getChildren",
            Operation::Delete => "delete",
            Operation::Multi => "multi",
        }
    }

    /// Whether the request changes the tree (a transaction): create, setData, delete, multi.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Operation::Create | Operation::SetData | Operation::Delete | Operation::Multi
        )
    }

    /// The short name used in `--mix` (`set`, `get`, `children`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::SetData => "set",
            Operation::GetData => "get",
            Operation::Exists => "exists",
            Operation::GetChildren => "children",
            Operation::Delete => "delete",
            Operation::Multi => "multi",
        }
    }

    /// The operation named `name`: its short name or its ZooKeeper name, in any case.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|operation| {
            name.eq_ignore_ascii_case(operation.short_name())
                || name.eq_ignore_ascii_case(operation.name())
        })
    }

    /// Position in [`Operation::ALL`], for per-operation arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// True for operations that act on the key space `/zk-bench/k0000000..`, which the setup
    /// phase must create first.
    pub fn needs_keys(self) -> bool {
        matches!(
            self,
            Operation::SetData
                | Operation::GetData
                | Operation::Exists
                | Operation::GetChildren
                | Operation::Multi
        )
    }
}

/// Why a `--mix` text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixError {
    /// A name that is not an operation.
    UnknownOperation(String),
    /// A weight that is not a non-negative integer.
    BadWeight {
        /// The operation.
        operation: String,
        /// The text after `=`.
        weight: String,
    },
    /// The same operation twice.
    Repeated(&'static str),
    /// No operation has a positive weight.
    Empty,
}

impl fmt::Display for MixError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MixError::UnknownOperation(name) => write!(
                formatter,
                "unknown operation `{name}` in --mix (known: create, set, get, exists, \
                 children, delete, multi)"
            ),
            MixError::BadWeight { operation, weight } => write!(
                formatter,
                "weight `{weight}` of `{operation}` in --mix is not a non-negative integer"
            ),
            MixError::Repeated(name) => write!(formatter, "`{name}` appears twice in --mix"),
            MixError::Empty => write!(formatter, "--mix has no operation with a positive weight"),
        }
    }
}

impl std::error::Error for MixError {}

/// Relative weights of the operations, and the table that turns a random number into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    /// Weight of each operation, indexed by [`Operation::index`].
    weights: [u32; 7],
    /// `cumulative[i]` = sum of `weights[..=i]`; the last entry is the total.
    cumulative: [u32; 7],
}

impl Mix {
    /// Largest weight accepted, so that the total cannot overflow.
    pub const MAX_WEIGHT: u32 = 1_000_000;

    /// Parses `name=weight,...` (see the module documentation). Spaces around items are ignored.
    pub fn parse(text: &str) -> Result<Mix, MixError> {
        let mut weights = [0_u32; 7];
        let mut seen = [false; 7];
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (name, weight) = match item.split_once('=') {
                Some((name, weight)) => (name.trim(), Some(weight.trim())),
                None => (item, None),
            };
            let operation = Operation::from_name(name)
                .ok_or_else(|| MixError::UnknownOperation(name.to_owned()))?;
            let weight = match weight {
                None => 1,
                Some(text) => text
                    .parse::<u32>()
                    .ok()
                    .filter(|weight| *weight <= Mix::MAX_WEIGHT)
                    .ok_or_else(|| MixError::BadWeight {
                        operation: name.to_owned(),
                        weight: text.to_owned(),
                    })?,
            };
            let slot = operation.index();
            if seen[slot] {
                return Err(MixError::Repeated(operation.short_name()));
            }
            seen[slot] = true;
            weights[slot] = weight;
        }
        Mix::from_weights(weights).ok_or(MixError::Empty)
    }

    /// A mix of one operation only.
    pub fn only(operation: Operation) -> Mix {
        let mut weights = [0; 7];
        weights[operation.index()] = 1;
        Mix::from_weights(weights).expect("one positive weight")
    }

    fn from_weights(weights: [u32; 7]) -> Option<Mix> {
        let mut cumulative = [0; 7];
        let mut total = 0_u32;
        for (slot, weight) in cumulative.iter_mut().zip(weights) {
            total += weight;
            *slot = total;
        }
        (total > 0).then_some(Mix {
            weights,
            cumulative,
        })
    }

    /// The weight of `operation` (0 if it is not in the mix).
    pub fn weight(&self, operation: Operation) -> u32 {
        self.weights[operation.index()]
    }

    /// Sum of the weights (always positive).
    pub fn total(&self) -> u32 {
        self.cumulative[6]
    }

    /// The operations with a positive weight, with their weights, in [`Operation::ALL`] order.
    pub fn operations(&self) -> impl Iterator<Item = (Operation, u32)> + '_ {
        Operation::ALL
            .into_iter()
            .map(|operation| (operation, self.weight(operation)))
            .filter(|(_, weight)| *weight > 0)
    }

    /// True if any operation of the mix needs the key space.
    pub fn needs_keys(&self) -> bool {
        self.operations()
            .any(|(operation, _)| operation.needs_keys())
    }

    /// The operation for `draw`, a number uniformly drawn from `0..self.total()`: each
    /// operation owns a run of `weight` consecutive numbers. A `draw` past the total (a caller
    /// bug) picks the last operation rather than panicking.
    pub fn pick(&self, draw: u32) -> Operation {
        let position = self.cumulative.partition_point(|&end| end <= draw);
        Operation::ALL
            .get(position)
            .copied()
            .unwrap_or(Operation::Multi)
    }
}

impl fmt::Display for Mix {
    /// The canonical text, `create=10,set=10,get=80`, which [`Mix::parse`] reads back.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, (operation, weight)) in self.operations().enumerate() {
            if position > 0 {
                formatter.write_str(",")?;
            }
            write!(formatter, "{}={weight}", operation.short_name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_weights_and_names() {
        let mix = Mix::parse("create=10,set=10,get=80").expect("valid");
        assert_eq!(mix.weight(Operation::Create), 10);
        assert_eq!(mix.weight(Operation::SetData), 10);
        assert_eq!(mix.weight(Operation::GetData), 80);
        assert_eq!(mix.weight(Operation::Multi), 0);
        assert_eq!(mix.total(), 100);
        assert_eq!(mix.to_string(), "create=10,set=10,get=80");

        let mix = Mix::parse(" getData = 3 , GETCHILDREN=1,exists ,multi=0").expect("valid");
        assert_eq!(mix.weight(Operation::GetData), 3);
        assert_eq!(mix.weight(Operation::GetChildren), 1);
        assert_eq!(mix.weight(Operation::Exists), 1);
        assert_eq!(mix.to_string(), "get=3,exists=1,children=1");
        assert_eq!(
            Mix::parse("get").expect("valid"),
            Mix::only(Operation::GetData)
        );
    }

    #[test]
    fn refuses_bad_text() {
        assert_eq!(
            Mix::parse("read=5"),
            Err(MixError::UnknownOperation("read".into()))
        );
        assert!(matches!(
            Mix::parse("get=-1"),
            Err(MixError::BadWeight { .. })
        ));
        assert!(matches!(
            Mix::parse("get=x"),
            Err(MixError::BadWeight { .. })
        ));
        assert!(matches!(
            Mix::parse("get=2000000"),
            Err(MixError::BadWeight { .. })
        ));
        assert_eq!(
            Mix::parse("get=1,getData=2"),
            Err(MixError::Repeated("get"))
        );
        assert_eq!(Mix::parse("get=0,set=0"), Err(MixError::Empty));
        assert_eq!(Mix::parse(""), Err(MixError::Empty));
        assert_eq!(Mix::parse(" , "), Err(MixError::Empty));
    }

    #[test]
    fn pick_follows_the_weights_exactly() {
        let mix = Mix::parse("create=1,get=2,multi=3").expect("valid");
        let picks: Vec<Operation> = (0..mix.total()).map(|draw| mix.pick(draw)).collect();
        assert_eq!(
            picks,
            [
                Operation::Create,
                Operation::GetData,
                Operation::GetData,
                Operation::Multi,
                Operation::Multi,
                Operation::Multi
            ]
        );
        assert_eq!(mix.pick(u32::MAX), Operation::Multi);
    }

    #[test]
    fn key_space_is_needed_only_by_operations_on_keys() {
        assert!(!Mix::parse("create=1,delete=1").expect("valid").needs_keys());
        assert!(Mix::parse("create=1,exists=1").expect("valid").needs_keys());
        assert!(Mix::only(Operation::Multi).needs_keys());
    }
}
