// The libFuzzer target over the record decoder and the open path (scripts/fuzz.sh).
//
// Built with `-sanitize=fuzzer -D DC_FUZZ` it hands its arguments to libFuzzer's driver,
// which calls `FuzzEntry.run` with each input. Built normally (swift build) it runs the files
// given as arguments through the same entry point, so reproducing a crash needs no
// sanitizer build: `swift run dc-fuzz fuzz/crashes/crash-…`.
//
// Either build: `dc-fuzz --make-corpus DIR` writes seed inputs made from segments of real
// caches (written by the engine) into DIR.
@_spi(Fuzzing) import DiskCache
#if canImport(Glibc)
import Glibc
#endif

#if DC_FUZZ
// SwiftPM renames an executable's entry point (so tests can link it), which hides libFuzzer's
// own `main`: this entry point hands over to libFuzzer's driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32
#endif

@main
enum FuzzMain {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "--make-corpus", args.count == 2 {
            makeCorpus(args[1])
            return
        }
        #if DC_FUZZ
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzEntry.run(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
        #else
        if args.isEmpty || args.first!.hasPrefix("-") {
            print("usage: dc-fuzz FILE…      run each input through FuzzEntry.run")
            print("       dc-fuzz --make-corpus DIR")
            print("(scripts/fuzz.sh builds the libFuzzer version)")
            exit(2)
        }
        for path in args {
            guard let bytes = readFile(path) else {
                print("cannot read \(path)")
                exit(1)
            }
            bytes.withUnsafeBytes { FuzzEntry.run($0) }
            print("ok \(path) (\(bytes.count) bytes)")
        }
        #endif
    }

    /// Seeds: every real segment with each combination of flags worth starting from, and real
    /// snapshots as they are and with their header fixed up.
    static func makeCorpus(_ dir: String) {
        mkdir(dir, 0o755)
        for (i, snapshot) in FuzzEntry.seedSnapshots().enumerated() {
            for flags: FuzzEntry.Flags in [[.snapshot], [.snapshot, .fixChecksums]] {
                let path = "\(dir)/seed-snapshot-\(i)-flags\(flags.rawValue)"
                guard let f = fopen(path, "wb") else { continue }
                let input = [flags.rawValue] + snapshot
                _ = input.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
                fclose(f)
            }
        }
        let flagSets: [FuzzEntry.Flags] = [[], [.openDirectory, .valueFiles], [.fixChecksums], [.fixChecksums, .openDirectory, .valueFiles]]
        for (i, segment) in FuzzEntry.seedSegments().enumerated() {
            for flags in flagSets {
                let path = "\(dir)/seed-\(i)-flags\(flags.rawValue)"
                guard let f = fopen(path, "wb") else { continue }
                let input = FuzzEntry.seed(fromSegment: segment, flags: flags)
                _ = input.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
                fclose(f)
            }
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }
}
