//! A direct parse (text straight into a type) that refuses what a parse into a YAML value
//! refuses and a direct parse takes: a key written twice in one mapping, which a map type
//! would silently take (the second value replacing the first).
//!
//! [`parse`] wraps serde_yaml_ng's deserializer so that every mapping, however deep (and those
//! the type ignores), has its keys read as a YAML value reads them (`deserialize_any`: `1` and
//! `0x1` are the same key, `1` and `"1"` are not) and compared like YAML values; each key is
//! then handed to the type as a YAML value hands it. Anything it cannot judge like a value —
//! a key that is not a scalar, a tagged node, an error of any kind — gives `None`, and the
//! caller parses the value's way, whose results and errors are the reference.

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// `text` parsed straight into `T`, when no mapping repeats a key and nothing fails.
pub(super) fn parse<T: DeserializeOwned>(text: &str) -> Option<T> {
    T::deserialize(Unique(serde_yaml_ng::Deserializer::from_str(text))).ok()
}

/// A mapping key as a YAML value compares it (serde_yaml_ng's `Value` and `Number` equality:
/// a non-negative integer is a positive one, all NaNs are equal, `0.0 == -0.0`).
#[derive(Clone, PartialEq, Eq, Hash)]
enum KeyId {
    Null,
    Bool(bool),
    PosInt(u64),
    NegInt(i64),
    /// The bits of the float, NaN and zero made one each.
    Float(u64),
    Str(String),
}

/// A scalar key as read, to hand on to the type.
enum Key {
    Null,
    Bool(bool),
    PosInt(u64),
    NegInt(i64),
    Float(f64),
    Str(String),
}

impl Key {
    fn id(&self) -> KeyId {
        match self {
            Key::Null => KeyId::Null,
            Key::Bool(b) => KeyId::Bool(*b),
            Key::PosInt(n) => KeyId::PosInt(*n),
            Key::NegInt(n) => KeyId::NegInt(*n),
            Key::Float(f) if f.is_nan() => KeyId::Float(f64::NAN.to_bits()),
            Key::Float(f) if *f == 0.0 => KeyId::Float(0),
            Key::Float(f) => KeyId::Float(f.to_bits()),
            Key::Str(s) => KeyId::Str(s.clone()),
        }
    }

    /// Hands the key to `seed` as a YAML value would.
    fn give<'de, S: DeserializeSeed<'de>, E: de::Error>(self, seed: S) -> Result<S::Value, E> {
        match self {
            Key::Null => seed.deserialize(().into_deserializer()),
            Key::Bool(b) => seed.deserialize(b.into_deserializer()),
            Key::PosInt(n) => seed.deserialize(n.into_deserializer()),
            Key::NegInt(n) => seed.deserialize(n.into_deserializer()),
            Key::Float(f) => seed.deserialize(f.into_deserializer()),
            Key::Str(s) => seed.deserialize(s.into_deserializer()),
        }
    }
}

/// Reads a key the way a YAML value does; refuses keys that are not plain scalars.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_any(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar key")
    }
    fn visit_unit<E>(self) -> Result<Key, E> {
        Ok(Key::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
        Ok(Key::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
        Ok(Key::PosInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
        Ok(u64::try_from(v).map_or(Key::NegInt(v), Key::PosInt))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
        Ok(Key::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Key, E> {
        Ok(Key::Str(v))
    }
}

/// The error that sends the caller the value's way.
fn not_judged<E: de::Error>(what: &str) -> E {
    E::custom(format_args!("{what}: parse through a YAML value"))
}

/// serde_yaml_ng's deserializer, with every mapping below it checked.
struct Unique<D>(D);

/// Forwards deserializer methods that take only a visitor.
macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Checked(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Unique<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier
    );

    /// Read whole (serde_yaml_ng would skip it unread), so that its mappings are checked too.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Checked(visitor))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Checked(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Checked(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Checked(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Checked(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Checked(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, D::Error> {
        Err(not_judged("an enum"))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A visitor whose nested deserializers, sequences and mappings are checked.
struct Checked<V>(V);

/// Forwards visitor methods that take one scalar.
macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Checked<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit!(
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char) visit_str(&str)
        visit_borrowed_str(&'de str) visit_string(String) visit_bytes(&[u8])
        visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Unique(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Unique(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Items(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Entries {
            map,
            seen: HashSet::new(),
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<V::Value, A::Error> {
        Err(not_judged("a tagged node"))
    }
}

/// A seed whose deserializer is checked.
struct CheckedSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for CheckedSeed<S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Unique(deserializer))
    }
}

/// A sequence whose items are checked.
struct Items<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Items<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(CheckedSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// A mapping whose keys are compared as YAML values and whose values are checked.
struct Entries<A> {
    map: A,
    seen: HashSet<KeyId>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Entries<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key_seed(KeySeed)? else {
            return Ok(None);
        };
        if !self.seen.insert(key.id()) {
            return Err(not_judged("a duplicate key"));
        }
        key.give(seed).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(CheckedSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde::de::DeserializeOwned;
    use serde_json::Value as Json;
    use std::collections::BTreeMap;

    /// The reference: a YAML value, then `T` read from it.
    fn through_value<T: DeserializeOwned>(text: &str) -> Option<T> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
        T::deserialize(value).ok()
    }

    /// Keys a YAML value holds equal are duplicates, at any depth, in fields a type ignores
    /// too.
    #[test]
    fn keys_equal_as_yaml_values_are_duplicates() {
        for text in [
            "a: 1\na: 2\n",
            "a: 1\n'a': 2\n",
            "x:\n  y: {b: 1, b: 2}\n",
            "1: a\n0x1: b\n",
            "- {k: 1}\n- {k: 1, k: 2}\n",
            "true: a\nTrue: b\n",
            "~: a\nnull: b\n",
            "0.0: a\n-0.0: b\n",
            ".nan: a\n.NaN: b\n",
        ] {
            assert!(through_value::<Json>(text).is_none(), "{text:?}");
            assert!(
                parse::<Json>(text).is_none(),
                "{text:?} has a duplicate key"
            );
        }
        #[derive(serde::Deserialize)]
        struct Fields {
            a: u32,
        }
        assert!(parse::<Fields>("a: 1\nb: {c: 1, c: 2}\n").is_none());
        assert_eq!(parse::<Fields>("a: 1\nb: {c: 1}\n").map(|f| f.a), Some(1));
    }

    /// It gives what reading a YAML value gives; a key the type cannot take from a value (a
    /// number for a text) is left to the value's way, whose fallback reads it from the text.
    #[test]
    fn results_are_those_of_a_yaml_value() {
        for text in [
            "a: [1, -2, 3.5, {b: 2}]\nc: ~\nd: 'x'\ne: \"1\"\nf: true\ng: 0x10\nh: .inf\n",
            "a: &x {b: 1}\nc: *x\n",
            "resources:\n  db:\n    type: test:Thing\n    properties: {value: \"${x.id}\"}\n",
        ] {
            let direct = parse::<BTreeMap<String, Json>>(text);
            assert!(direct.is_some(), "{text:?}");
            assert_eq!(direct, through_value(text), "{text:?}");
            let json = parse::<Json>(text);
            assert!(json.is_some(), "{text:?}");
            assert_eq!(json, through_value(text), "{text:?}");
        }
        let numbered = "1: a\n'2': b\n";
        assert!(through_value::<BTreeMap<String, Json>>(numbered).is_none());
        assert!(parse::<BTreeMap<String, Json>>(numbered).is_none());
    }

    /// Tagged nodes, keys that are not scalars and syntax errors are left to the value's way.
    #[test]
    fn what_it_cannot_judge_is_left_to_the_value() {
        assert!(parse::<Json>("a: !tag 1\n").is_none());
        assert!(parse::<Json>("? [a, b]\n: 1\n").is_none());
        assert!(parse::<Json>("a: [1\n").is_none());
    }
}
