pub use {md5, rand, regex};
