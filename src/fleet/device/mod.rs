//! The device's side of the fleet. (Scaffold; issue 15.)
