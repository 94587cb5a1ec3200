// fuzz_pth.c: libFuzzer target for the .pth reader (zip container, legacy format, the
// restricted pickle VM, tensor materialization). Built with -Dfuzz=true (clang).
#include <stddef.h>
#include <stdint.h>

#include "io/pth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error err = {0};
    if (tg_pth_read(data, size, "fuzz.pth", &sd, &err) == TG_OK) {
        for (size_t i = 0; i < sd.n; i++)  // touch every byte the reader claims it produced
            if (sd.entries[i].nbytes) ((volatile uint8_t *)sd.entries[i].data)[sd.entries[i].nbytes - 1];
    } else if (!err.msg[0]) {
        __builtin_trap();  // a failure must always carry a message
    }
    tg_statedict_free(&sd);
    return 0;
}
