//! `wire_enum!`: declares a `#[repr(i32)]` enum for a set of integer values that travel as a jute
//! `int`, with `TryFrom<i32>` (unknown values give the value back), `From<Enum> for i32`, and an
//! `ALL` list for tests.

/// Declares a `#[repr(i32)]` enum whose variants are wire values.
macro_rules! wire_enum {
    (
        $(#[$enum_attribute:meta])*
        $visibility:vis enum $name:ident {
            $( $(#[$variant_attribute:meta])* $variant:ident = $value:expr, )+
        }
    ) => {
        $(#[$enum_attribute])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        $visibility enum $name {
            $( $(#[$variant_attribute])* $variant = $value, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value on the wire.
            pub const fn value(self) -> i32 {
                self as i32
            }
        }

        impl From<$name> for i32 {
            fn from(variant: $name) -> i32 {
                variant as i32
            }
        }

        impl TryFrom<i32> for $name {
            /// The unknown value.
            type Error = i32;

            fn try_from(value: i32) -> Result<Self, i32> {
                match value {
                    $( $value => Ok(Self::$variant), )+
                    unknown => Err(unknown),
                }
            }
        }
    };
}

/// Declares a jute record: a struct whose fields are encoded in order, each with a field kind
/// that names its jute type (`int`, `long`, `bool`, `string` (null reads as empty),
/// `optional_string`, `buffer` for nullable bytes,
/// `bytes` for bytes where null reads as empty, `strings` for `vector<ustring>`, `records` for a
/// vector of records, `record` for a nested record).
macro_rules! jute_record {
    (
        $(#[$struct_attribute:meta])*
        pub struct $name:ident {
            $( $(#[$field_attribute:meta])* pub $field:ident : $type:ty as $kind:ident, )*
        }
    ) => {
        $(#[$struct_attribute])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$field_attribute])* pub $field: $type, )*
        }

        impl $crate::proto::jute::Record for $name {
            const MIN_ENCODED_LEN: usize = 0 $( + jute_field!(min_len $kind $type) )*;

            #[allow(unused_variables)]
            fn decode(
                reader: &mut $crate::proto::jute::Reader<'_>,
            ) -> Result<Self, $crate::proto::jute::DecodeError> {
                // Struct expression fields are evaluated in source order, which is wire order.
                Ok(Self { $( $field: jute_field!(read $kind reader), )* })
            }

            #[allow(unused_variables)]
            fn encode(&self, writer: &mut $crate::proto::jute::Writer<'_>) {
                $( jute_field!(write $kind writer, &self.$field); )*
            }
        }
    };
}

/// One field of a [`jute_record!`]: its smallest encoding, how to read it, how to write it.
macro_rules! jute_field {
    (min_len int $type:ty) => {
        $crate::proto::jute::INT_LEN
    };
    (min_len long $type:ty) => {
        $crate::proto::jute::LONG_LEN
    };
    (min_len bool $type:ty) => {
        $crate::proto::jute::BOOL_LEN
    };
    (min_len string $type:ty) => {
        $crate::proto::jute::LENGTH_PREFIX_LEN
    };
    (min_len optional_string $type:ty) => {
        $crate::proto::jute::LENGTH_PREFIX_LEN
    };
    (min_len buffer $type:ty) => {
        $crate::proto::jute::LENGTH_PREFIX_LEN
    };
    (min_len bytes $type:ty) => {
        $crate::proto::jute::LENGTH_PREFIX_LEN
    };
    (min_len strings $type:ty) => {
        $crate::proto::jute::LENGTH_PREFIX_LEN
    };
    (min_len records $type:ty) => {
        $crate::proto::jute::LENGTH_PREFIX_LEN
    };
    (min_len record $type:ty) => {
        <$type as $crate::proto::jute::Record>::MIN_ENCODED_LEN
    };

    (read int $reader:ident) => {
        $reader.read_int()?
    };
    (read long $reader:ident) => {
        $reader.read_long()?
    };
    (read bool $reader:ident) => {
        $reader.read_bool()?
    };
    (read string $reader:ident) => {
        $reader.read_string()?
    };
    (read optional_string $reader:ident) => {
        $reader.read_optional_string()?
    };
    (read buffer $reader:ident) => {
        $reader.read_buffer()?
    };
    (read bytes $reader:ident) => {
        $reader.read_buffer_or_empty()?
    };
    (read strings $reader:ident) => {
        $reader.read_string_vector()?
    };
    (read records $reader:ident) => {
        $reader.read_vector()?
    };
    (read record $reader:ident) => {
        $reader.read_record()?
    };

    (write int $writer:ident, $value:expr) => {
        $writer.write_int(*$value)
    };
    (write long $writer:ident, $value:expr) => {
        $writer.write_long(*$value)
    };
    (write bool $writer:ident, $value:expr) => {
        $writer.write_bool(*$value)
    };
    (write string $writer:ident, $value:expr) => {
        $writer.write_string($value)
    };
    (write optional_string $writer:ident, $value:expr) => {
        $writer.write_optional_string($value.as_deref())
    };
    (write buffer $writer:ident, $value:expr) => {
        $writer.write_buffer($value.as_deref())
    };
    (write bytes $writer:ident, $value:expr) => {
        $writer.write_buffer(Some($value))
    };
    (write strings $writer:ident, $value:expr) => {
        $writer.write_string_vector($value)
    };
    (write records $writer:ident, $value:expr) => {
        $writer.write_vector($value)
    };
    (write record $writer:ident, $value:expr) => {
        $writer.write_record($value)
    };
}
