/* For running the Windows build under wine only, never shipped: wine 8 has no
 * bcryptprimitives.dll, whose ProcessPrng Rust's standard library calls for random bytes
 * (Windows 10 and 11 have it). This stand-in answers from RtlGenRandom (advapi32). */
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
