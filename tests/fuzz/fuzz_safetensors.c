// fuzz_safetensors.c: libFuzzer target for the safetensors reader (header cap, JSON,
// dtypes, shapes, offsets). Built with -Dfuzz=true (clang).
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error err = {0};
    if (tg_safetensors_read(data, size, "fuzz.safetensors", &sd, &err) == TG_OK) {
        for (size_t i = 0; i < sd.n; i++)
            if (sd.entries[i].nbytes) ((volatile uint8_t *)sd.entries[i].data)[sd.entries[i].nbytes - 1];
    } else if (!err.msg[0]) {
        __builtin_trap();
    }
    tg_statedict_free(&sd);
    return 0;
}
