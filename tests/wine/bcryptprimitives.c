/*
 * Test harness only, never shipped: Wine 8.0 has no bcryptprimitives.dll,
 * and Rust's std for Windows imports ProcessPrng from it. Placed beside the
 * .exe, this DLL lets the agent start under Wine. It fills the buffer from
 * RtlGenRandom (advapi32!SystemFunction036), in chunks because that takes a
 * ULONG length. ProcessPrng is documented to always return TRUE; we return
 * FALSE if RtlGenRandom fails, which std turns into a panic, not bad keys.
 *
 * Built by crates/cli/tests/it/wine.rs and crates/bench/benches/wine.rs:
 *   x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll \
 *     bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x10000 ? 0x10000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
