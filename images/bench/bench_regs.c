/*
 * bench_regs - register-heavy loop: PA5 as an output, then ODR_TOGGLES read-modify-
 * write toggles of GPIOA_ODR (one load and one store each, as `GPIOx->ODR ^= pin`
 * compiles), at the 12 MHz reset clock. odr_accesses holds the number of ODR
 * accesses for the benchmark. Prints "toggled\n" and exits 0.
 */
#include "bench.h"
#include "semihost.h"

#define ODR_TOGGLES 150000u

const uint32_t odr_accesses = 2u * ODR_TOGGLES;

int main(void)
{
    RCC_IOPENR |= RCC_IOPENR_GPIOAEN;
    GPIOA_MODER = (GPIOA_MODER & ~(3u << 10)) | (1u << 10);
    uint32_t toggles = *(const volatile uint32_t *)&odr_accesses / 2u;   /* keeps the symbol */
    for (uint32_t i = 0; i < toggles; i++)
        GPIOA_ODR ^= 1u << 5;
    sh_write0("toggled\n");
    return 0;
}
