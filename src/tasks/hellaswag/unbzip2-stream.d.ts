/** The package ships no types: a `through` stream that takes bzip2 bytes and emits the decompressed ones. */
declare module 'unbzip2-stream' {
  function unbzip2Stream(): NodeJS.ReadWriteStream;
  export = unbzip2Stream;
}
