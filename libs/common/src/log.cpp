// SPDX-License-Identifier: Apache-2.0
// placeholder: implemented in a follow-up commit
